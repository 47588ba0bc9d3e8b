// `logging.format: pretty`: one human-readable line per JSON log event (no pino-pretty transport; bun-notes §4).
const LEVEL_WIDTH = 5;

export function prettyLine(jsonLine: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  const { time, level, msg, component, pid: _pid, ...rest } = o;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  return `${t} ${String(level ?? '').toUpperCase().padEnd(LEVEL_WIDTH)} ${component ? `[${component}] ` : ''}${msg ?? ''}${fields ? `  ${fields}` : ''}\n`;
}
