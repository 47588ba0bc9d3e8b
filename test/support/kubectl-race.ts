// kubectl's own start-up race, shared by the two stream matrices (sandbox direct and through the hub).
//
// client-go's WebSocket executor (kubectl 1.30+) starts reading before it has created its streams, so a message
// from a server that answers at once (the sandbox's `exit 7` does) can arrive first and be dropped by kubectl
// itself: it logs "Unknown stream id N, discarding message" (remotecommand/websocket.go) and exits 1, which also
// proves the message was delivered. Only this client-side race is retried, once; the tables mark the cell '*'.

/** Footnote for a printed matrix naming the cells that were retried. */
export const RACE_FOOTNOTE = `* retried once after kubectl's own start-up race ("Unknown stream id")`;

/** Runs a case (null = passed, else what failed; a throw counts as a failure), retrying once after the race. */
export async function runWithRaceRetry(run: () => Promise<string | null>): Promise<{ detail: string | null; raced: boolean }> {
  const attempt = async () => {
    try {
      return await run();
    } catch (err) {
      return `threw: ${(err as Error).message}`;
    }
  };
  const first = await attempt();
  const raced = first?.includes('Unknown stream id') ?? false;
  return { detail: raced ? await attempt() : first, raced };
}
