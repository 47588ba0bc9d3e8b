// Heartbeat worker entrypoint (src/heartbeat).
import type { HeartbeatToMain, MainToHeartbeat } from '../src/threads/messages.ts';
import { runHeartbeatWorker } from '../src/heartbeat/worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';
import { collectWhenQuiet } from '../src/threads/quiet-collector.ts';

runHeartbeatWorker(collectWhenQuiet(workerPort<MainToHeartbeat, HeartbeatToMain>()));
