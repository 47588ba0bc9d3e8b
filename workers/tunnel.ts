// Tunnel worker entrypoint: the control-plane session and the relays (src/tunnel), and the heartbeat (src/heartbeat)
// on the same thread. A worker of its own cost the heartbeat a JS heap, ≈ 3.8 MiB of idle RSS (docs/benchmarks.md,
// Memory); its logic still speaks its own messages, over an in-thread channel (src/threads/in-thread-port.ts).
import '../src/config/zod-jitless.ts';
import type { MainToTunnel, TunnelToMain } from '../src/threads/messages.ts';
import { runHeartbeatWorker } from '../src/heartbeat/worker-main.ts';
import { runTunnelWorker } from '../src/tunnel/worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';
import { collectWhenQuiet } from '../src/threads/quiet-collector.ts';

runTunnelWorker(collectWhenQuiet(workerPort<MainToTunnel, TunnelToMain>()), runHeartbeatWorker);
