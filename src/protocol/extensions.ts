// Which of our protocol extensions an agent speaks. The shipped Go agent sends none of this, so a control plane
// must assume upstream behaviour unless the agent listed an extension here; an upstream control plane sees one
// extra query parameter and one extra metadata string, both of which it ignores.
//
// Where the list travels (agent → control plane), as a comma-separated, sorted list of names:
//  - gateway URL query parameter `pipeops_extensions` (every gateway dial, including session resumption, which
//    sends no `register`): the capability set of that gateway session;
//  - `register` payload `metadata.pipeops_extensions`: the capability set of a controller socket that stays the
//    session (no hand-off).
// Unknown names are ignored, so a newer agent can list more than an older hub knows.

/**
 * - `binary_chunks`: response bodies may come as binary chunk frames with credit (src/protocol/proxy-messages.ts),
 *   and every non-empty buffered answer as a binary response frame (§3.6), not only those of 10 KiB and more.
 * - `raw_frames`: `proxy_websocket_start` may ask for byte-exact frames instead of channel translation (W4).
 * - `raw_upgrade`: an upgrade `proxy_request` is replayed verbatim and answered with the target's status (W2).
 * - `frame_batches`: once the control plane sent `frame_batches` on a socket, the agent may put several binary
 *   messages in one (src/protocol/frame-batch.ts).
 * - `long_streams`: streamed responses (watch, `logs -f`) have no total deadline (deviation P3); upstream cuts
 *   them after 30 s.
 * - `yamux_tagged`: after `gateway_hello`, yamux may travel in binary messages tagged with two zero bytes beside the
 *   HTTP binary frames (src/tunnel/l4/yamux-tunnels.ts), instead of claiming every binary message as upstream does.
 */
export const EXTENSIONS = ['binary_chunks', 'frame_batches', 'long_streams', 'raw_frames', 'raw_upgrade', 'yamux_tagged'] as const;
export type Extension = (typeof EXTENSIONS)[number];

/** Gateway URL query parameter. */
export const EXTENSIONS_QUERY_PARAM = 'pipeops_extensions';
/** Key in the `register` payload's `metadata`. */
export const EXTENSIONS_METADATA_KEY = 'pipeops_extensions';

const KNOWN = new Set<string>(EXTENSIONS);

export function formatExtensions(list: readonly Extension[] = EXTENSIONS): string {
  return [...new Set(list)].sort().join(',');
}

/** The known extensions named in `raw` (absent or empty: none, which is what the Go agent sends). */
export function parseExtensions(raw: string | null | undefined): ReadonlySet<Extension> {
  const out = new Set<Extension>();
  if (!raw) return out;
  for (const name of raw.split(',')) {
    const n = name.trim();
    if (KNOWN.has(n)) out.add(n as Extension);
  }
  return out;
}
