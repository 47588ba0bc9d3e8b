// SIGTERM/SIGINT handling shared by the long-running commands. An explicit handler matters: as PID 1 in a
// container, a process without one ignores SIGTERM (bun-notes §3). A second signal, or the deadline, forces exit.
export function onTerminate(stop: () => Promise<unknown>, deadlineMs = 10_000): void {
  let signalled = false;
  const handler = (sig: string) => {
    if (signalled) {
      process.stderr.write(`received ${sig} again; exiting now\n`);
      process.exit(1);
    }
    signalled = true;
    const t = setTimeout(() => {
      process.stderr.write(`shutdown did not finish within ${deadlineMs} ms; exiting\n`);
      process.exit(1);
    }, deadlineMs);
    t.unref?.();
    void stop();
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
