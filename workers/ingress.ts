// Ingress worker entrypoint (src/gateway).
import '../src/config/zod-jitless.ts';
import type { IngressToMain, MainToIngress } from '../src/threads/messages.ts';
import { runIngressWorker } from '../src/gateway/ingress-worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';
import { collectWhenQuiet } from '../src/threads/quiet-collector.ts';

runIngressWorker(collectWhenQuiet(workerPort<MainToIngress, IngressToMain>()));
