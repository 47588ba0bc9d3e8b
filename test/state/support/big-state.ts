// A deterministic, large state for index n, so the crash test can tell which save a file came from.
import type { PersistedState } from '../../../src/state/agent-state.ts';

export function bigState(n: number): PersistedState {
  const chunk = `tok-${n}-`;
  return {
    agent_id: `agent-${n}`,
    cluster_id: `cluster-${n}`,
    cluster_uuid: `uuid-${n}`,
    gateway_ws_url: `wss://gw.example/${n}`,
    cluster_token: chunk.repeat(Math.ceil(400_000 / chunk.length)),
    cluster_cert_data: Buffer.from(`cert-${n}-`.repeat(30_000)).toString('base64'),
  };
}
