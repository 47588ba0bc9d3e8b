// Tunnel worker entrypoint: the control-plane session and the relays (src/tunnel).
import type { MainToTunnel, TunnelToMain } from '../src/threads/messages.ts';
import { runTunnelWorker } from '../src/tunnel/worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';
import { collectWhenQuiet } from '../src/threads/quiet-collector.ts';

runTunnelWorker(collectWhenQuiet(workerPort<MainToTunnel, TunnelToMain>()));
