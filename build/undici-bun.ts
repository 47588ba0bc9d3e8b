// Shim for `undici` inside @kubernetes/client-node on Bun: maps the dispatcher's TLS options to Bun fetch's `tls`.
// Bun resolves `import 'undici'` to a built-in stub whose Agent ignores CA, client certificates and skip-verify.
type ConnectOpts = {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
};

export class Agent {
  readonly connect?: ConnectOpts;
  constructor(o: { connect?: ConnectOpts | ((...a: unknown[]) => unknown) } = {}) {
    this.connect = typeof o.connect === 'object' ? o.connect : undefined;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

export class ProxyAgent extends Agent {
  readonly uri: string;
  constructor(o: { uri: string; requestTls?: ConnectOpts }) {
    super({ connect: o.requestTls });
    this.uri = o.uri;
  }
}

export function fetch(input: string | URL | Request, init: Record<string, unknown> = {}): Promise<Response> {
  const { dispatcher, ...rest } = init as { dispatcher?: Agent } & Record<string, unknown>;
  const c = dispatcher?.connect;
  if (c) {
    rest.tls = {
      ca: c.ca,
      cert: c.cert,
      key: c.key,
      passphrase: c.passphrase,
      rejectUnauthorized: c.rejectUnauthorized,
      serverName: c.servername,
    };
  }
  if (dispatcher instanceof ProxyAgent) rest.proxy = dispatcher.uri;
  return globalThis.fetch(input, rest as RequestInit);
}
