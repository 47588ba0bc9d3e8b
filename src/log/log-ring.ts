// The recent log lines the agent's local API serves (/api/logs, the dashboard).
/** A bounded ring of recent log lines for /api/realtime/logs and the dashboard. */
export class LogRing extends EventTarget {
  readonly #lines: string[] = [];
  constructor(readonly capacity = 500) {
    super();
  }
  push(line: string): void {
    const l = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.#lines.push(l);
    if (this.#lines.length > this.capacity) this.#lines.shift();
    this.dispatchEvent(new CustomEvent('line', { detail: l }));
  }
  recent(n = this.capacity): string[] {
    return this.#lines.slice(-n);
  }
}
