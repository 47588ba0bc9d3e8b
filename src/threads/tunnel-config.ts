// The tunnel worker's settings as the main thread builds them from the agent config (src/agent/run.ts) and the
// tunnel's relays read them: a contract of both, so it lives here rather than in either.

/** A Service port in the cluster. */
export interface ServiceTarget {
  namespace: string;
  name: string;
  port: number;
}

/** How the agent reaches an in-cluster Service: cluster DNS, the API server's services/proxy, or an explicit map. */
export type ServiceProxyMode = 'dns' | 'apiserver' | 'map';

export interface RelayConfig {
  serviceProxy: ServiceProxyMode;
  serviceMap: Record<string, string>;
  clusterDomain: string;
  ingressController: ServiceTarget | null;
  maxBufferedBodyBytes: number;
  maxRequestBodyBytes: number;
  /** Total bound of a buffered request (P3); streams have none. */
  bufferedTimeoutMs: number;
  /** A streamed request body with no chunk for this long is abandoned: the request fails (`timeouts.proxy_body_idle`). */
  bodyIdleMs?: number;
  /**
   * The relay's connections to the Kubernetes API (src/kube/http1.ts): connecting may take this long
   * (`timeouts.proxy_dial`), and an idle kept-alive one is closed after `idleMs` (`timeouts.proxy_idle`).
   */
  dialTimeoutMs?: number;
  idleMs?: number;
  binaryThreshold: number;
  gzipMinBytes: number;
  highWaterBytes: number;
}

export interface StreamConfig {
  highWaterBytes: number;
  /** Bytes a stream may hold toward a slow backend before the control plane is told to back off (and, past 8×, the stream fails). */
  maxBufferedBytes: number;
  /** Largest frame accepted from the control plane (`proxy.ws_max_frame_bytes`); larger ones end their stream with 1009. */
  maxFrameBytes?: number;
  serviceProxy: ServiceProxyMode;
  serviceMap: Record<string, string>;
  clusterDomain: string;
  pingMs: number;
  pongTimeoutMs: number;
  dialTimeoutMs: number;
  /** A stream with no frame in either direction for this long is closed with 1001 (`timeouts.stream_idle`). */
  idleMs?: number;
}

export interface SessionTimeouts {
  handshakeMs: number;
  pingMs: number;
  readMs: number;
  reconnectMs: number;
  reconnectMaxMs: number;
  registrationMs: number;
  registrationMaxWaitMs: number;
  shutdownMs: number;
  /** How long a heartbeat may wait for proof that the peer is alive (timeouts.heartbeat). */
  heartbeatMs: number;
}

/** tunnels.* as the L4 tunnels read them (protocol.md §5; src/tunnel/l4/). */
export interface L4Config {
  enabled: boolean;
  tcp: { bufferSize: number; keepalive: boolean; keepalivePeriodMs: number; connectTimeoutMs: number; idleTimeoutMs: number; maxConnections: number };
  udp: { bufferSize: number; sessionTimeoutMs: number; maxSessions: number };
  /** Where L4 streams dial: kubernetes.service_map first, else cluster DNS with the detected domain. */
  target: { mode: ServiceProxyMode; clusterDomain: string; serviceMap: Record<string, string> };
  /** Yamux defaults before gateway_hello overrides (§5.2). */
  yamux: { keepAliveMs: number; writeTimeoutMs: number; maxStreamWindow: number };
}
