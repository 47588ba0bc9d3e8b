// Tunnel worker entrypoint: the control-plane session and the relays (src/tunnel).
import type { MainToTunnel, TunnelToMain } from '../src/threads/messages.ts';
import { runTunnelWorker } from '../src/tunnel/worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';

runTunnelWorker(workerPort<MainToTunnel, TunnelToMain>());
