// A kube gateway on its own listener for the front's tests, wired to a test hub's agents, directory and store (the
// tests' own options over these), and stopped with the others at the end of the file.
import type { Hub } from '../../src/hub/server.ts';
import { ensureGatewayTls } from '../../src/hub/kube-gateway/gateway-tls.ts';
import { type KubeGateway, type KubeGatewayOptions, startKubeGateway } from '../../src/hub/kube-gateway/kube-gateway.ts';
import { quietLog, USER_TOKEN } from '../support/hub-agent.ts';

export class FrontGateways {
  readonly #all: KubeGateway[] = [];

  constructor(private readonly base: () => { hub: Hub } & Partial<KubeGatewayOptions>) {}

  async start(over: Partial<KubeGatewayOptions> = {}): Promise<KubeGateway> {
    const { hub, ...defaults } = this.base();
    const gw = await startKubeGateway({
      host: '127.0.0.1',
      port: 0,
      tls: await ensureGatewayTls({ state: ':memory:', host: '127.0.0.1', publicUrl: '' }),
      userTokens: [USER_TOKEN],
      proxyTimeoutMs: 30_000,
      agents: hub.agents,
      directory: hub.directory,
      clusters: hub.store,
      log: quietLog,
      ...defaults,
      ...over,
    });
    this.#all.push(gw);
    return gw;
  }

  /** The test stops `gw` itself: not stopped again at the end. */
  forget(gw: KubeGateway): void {
    const i = this.#all.indexOf(gw);
    if (i >= 0) this.#all.splice(i, 1);
  }

  async stopAll(): Promise<void> {
    for (const gw of this.#all.splice(0)) await gw.stop();
  }
}
