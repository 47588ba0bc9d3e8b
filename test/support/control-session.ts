// A ControlSession for unit tests against a local fake control plane: a fresh agent (no persisted state) with short,
// explicit timeouts, and handlers that ignore everything unless a test overrides them.
import type { SessionHandlers, SessionOptions } from '../../src/tunnel/session.ts';

/** Options of a fresh session dialling `http://127.0.0.1:<port>`; `over` replaces fields (timeouts merged). */
export function testSessionOptions(port: number, over: Partial<Omit<SessionOptions, 'timeouts'>> & { timeouts?: Partial<SessionOptions['timeouts']> } = {}): SessionOptions {
  const { timeouts, ...rest } = over;
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    token: 't',
    agentVersion: '0.0.0',
    state: { cluster_id: '', cluster_uuid: '', gateway_ws_url: '', cluster_token: '' } as never,
    credentialsChanged: false,
    tls: { enabled: false, insecureSkipVerify: false },
    timeouts: { handshakeMs: 5000, pingMs: 60_000, readMs: 60_000, reconnectMs: 100, reconnectMaxMs: 1000, registrationMs: 5000, registrationMaxWaitMs: 10_000, shutdownMs: 1000, heartbeatMs: 5000, ...timeouts },
    buildRegisterPayload: () => ({ agent_id: 'agent-t', cluster_name: 't' }) as never,
    ...rest,
  };
}

/** Handlers that do nothing; `over` replaces some. */
export function testSessionHandlers(over: Partial<SessionHandlers> = {}): SessionHandlers {
  return { status: () => {}, persist: () => {}, fatal: () => {}, metric: () => {}, message: () => false, binary: () => null, beforeText: () => {}, connected: () => {}, disconnected: () => {}, ...over };
}
