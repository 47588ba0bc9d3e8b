// Drives headless Chromium over the DevTools protocol for the optional dashboard render test.
// (--dump-dom never returns while the page holds SSE streams open, so we poll the live DOM instead.)
import type { Subprocess } from 'bun';

export class HeadlessPage {
  #id = 0;
  readonly #pending = new Map<number, (r: { result?: unknown; error?: { message: string } }) => void>();
  private constructor(
    readonly proc: Subprocess,
    readonly ws: WebSocket,
  ) {
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (m.id !== undefined) this.#pending.get(m.id)?.(m);
    };
  }

  static async open(chromium: string, url: string, userDataDir: string): Promise<HeadlessPage> {
    const proc = Bun.spawn(
      [chromium, '--headless=new', '--no-sandbox', '--disable-gpu', '--remote-debugging-port=0', `--user-data-dir=${userDataDir}`, '--window-size=1280,1100', url],
      { stdout: 'ignore', stderr: 'pipe' },
    );
    // Chromium announces its DevTools endpoint on stderr.
    let err = '';
    let port = '';
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      err += new TextDecoder().decode(chunk);
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
      if (m?.[1]) {
        port = m[1];
        break;
      }
    }
    if (!port) throw new Error(`chromium did not start: ${err.slice(0, 500)}`);
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
    const page = targets.find((t) => t.type === 'page');
    if (!page) throw new Error('no page target');
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    return new HeadlessPage(proc, ws);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (r) => (r.error ? reject(new Error(r.error.message)) : resolve((r.result ?? {}) as Record<string, unknown>)));
    });
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true });
    return (r.result as { value: T }).value;
  }

  /** Polls the page until `expression` is truthy (the page updates from SSE, so there is no single event to await). */
  async waitFor(expression: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await this.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)))');
    }
  }

  async screenshot(path: string): Promise<void> {
    const r = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    await Bun.write(path, Buffer.from(String(r.data), 'base64'));
  }

  async close(): Promise<void> {
    this.ws.close();
    this.proc.kill();
    await this.proc.exited;
  }
}
