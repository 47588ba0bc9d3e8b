// The Kubernetes remote-command channel protocols for exec/attach over WebSocket (k8s.io/apiserver wsstream +
// apimachinery remotecommand constants): which subprotocols exist, how a message maps to a channel, and what
// goes on the error channel (3) when the process ends. Pure: no sockets here.

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

export interface ChannelProtocol {
  name: string;
  /** 1 = channel.k8s.io … 5 = v5.channel.k8s.io; drives status format (v4+) and the CLOSE signal (v5). */
  version: 1 | 2 | 3 | 4 | 5;
  /** Text frames carrying an ASCII channel digit and base64 payload instead of binary frames. */
  base64: boolean;
}

export const EXEC_PROTOCOLS: readonly ChannelProtocol[] = [
  { name: 'v5.channel.k8s.io', version: 5, base64: false },
  { name: 'v4.channel.k8s.io', version: 4, base64: false },
  { name: 'v3.channel.k8s.io', version: 3, base64: false },
  { name: 'v2.channel.k8s.io', version: 2, base64: false },
  { name: 'channel.k8s.io', version: 1, base64: false },
  { name: 'v4.base64.channel.k8s.io', version: 4, base64: true },
  { name: 'base64.channel.k8s.io', version: 1, base64: true },
];

/**
 * The kubelet's rule (wsstream.handshake): the first subprotocol in the *client's* list that the server knows.
 * No Sec-WebSocket-Protocol at all selects "" (served as the first entry's protocol by the caller). Null means
 * nothing matched and the upgrade must be refused with 400.
 */
export function negotiateSubprotocol(offered: readonly string[], supported: readonly string[]): string | null {
  if (offered.length === 0) return '';
  for (const p of offered) if (supported.includes(p)) return p;
  return null;
}

export function execProtocolByName(name: string): ChannelProtocol {
  // "" (no subprotocol) is the original binary channel.k8s.io.
  return EXEC_PROTOCOLS.find((p) => p.name === name) ?? { name: '', version: 1, base64: false };
}

export interface ChannelMessage {
  channel: number;
  payload: Buffer;
}

/** One WebSocket message for `channel`; `binary` says which frame type to send it in. */
export function encodeChannelMessage(base64: boolean, channel: number, payload: Uint8Array): { data: Buffer; binary: boolean } {
  if (base64) {
    const text = String.fromCharCode(48 + channel) + Buffer.from(payload).toString('base64');
    return { data: Buffer.from(text, 'latin1'), binary: false };
  }
  const data = Buffer.allocUnsafe(payload.length + 1);
  data[0] = channel;
  data.set(payload, 1);
  return { data, binary: true };
}

/** Parses one received message; null for an empty message (the kubelet ignores those). */
export function decodeChannelMessage(base64: boolean, data: Buffer, binary: boolean): ChannelMessage | null {
  if (data.length === 0) return null;
  if (base64 && !binary) {
    const channel = (data[0] as number) - 48;
    if (channel < 0 || channel > 9) throw new Error(`base64 channel byte ${data[0]} is not an ASCII digit`);
    return { channel, payload: Buffer.from(data.subarray(1).toString('latin1'), 'base64') };
  }
  return { channel: data[0] as number, payload: data.subarray(1) };
}

/** What the container runtime reported when the process ended. */
export interface ExitReport {
  code: number;
  /** Overrides the default non-zero-exit message (e.g. an exec error from the runtime). */
  message?: string;
  command: readonly string[];
}

export function nonZeroExitMessage(r: ExitReport): string {
  return (
    r.message ??
    `command terminated with non-zero exit code: error executing command [${r.command.join(' ')}], exit code ${r.code}`
  );
}

/**
 * Bytes for the error channel/stream, or null when nothing is written. v1–v3 write plain text and only on
 * failure; v4/v5 always write a metav1.Status, from whose ExitCode cause kubectl takes its own exit status.
 */
export function encodeExitStatus(version: number, r: ExitReport): Buffer | null {
  if (version < 4) return r.code === 0 ? null : Buffer.from(nonZeroExitMessage(r));
  if (r.code === 0) return Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }));
  return Buffer.from(
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: nonZeroExitMessage(r),
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(r.code) }] },
    }),
  );
}

/** Terminal size from a resize message (`{"Width":W,"Height":H}`, kubectl adds a newline); null if unusable. */
export function parseResize(text: string): { width: number; height: number } | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const { Width, Height } = v as { Width?: unknown; Height?: unknown };
  if (typeof Width !== 'number' || typeof Height !== 'number') return null;
  return { width: Width, height: Height };
}
