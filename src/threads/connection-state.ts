// The control-plane session as the threads report it to each other: the tunnel worker owns the session, the
// main thread, the heartbeat (on the tunnel worker's thread) and the ingress worker follow its state.

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type SessionMode = 'controller' | 'gateway';

/** What the tunnel worker reports about its session at every change. */
export interface SessionStatus {
  state: ConnectionState;
  registered: boolean;
  mode: SessionMode | null;
  endpoint: string | null;
  clusterId: string;
  error: string | null;
  reconnect: boolean;
}
