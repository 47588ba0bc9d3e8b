// Waiting for conditions in tests: poll a predicate until it holds, or fail with what was last seen.
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      last = await probe();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}; last: ${String(last)}`);
    await Bun.sleep(opts.intervalMs ?? 20);
  }
}

/** Resolves with the first line of a stream matching `pattern` (subprocess stdout), collecting all lines. */
export function lineWatcher(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let ended = false;
  const endWaiters: (() => void)[] = [];
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
        i = buf.indexOf('\n');
      }
    }
    ended = true;
    for (const e of endWaiters) e();
  })();
  return {
    lines,
    get text() {
      return lines.join('\n');
    },
    next(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got:\n${lines.slice(-20).join('\n')}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => { clearTimeout(t); resolve(l); } });
      });
    },
    ended: () => (ended ? Promise.resolve() : new Promise<void>((r) => endWaiters.push(r))),
  };
}
