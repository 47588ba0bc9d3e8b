// Ingress worker entrypoint (src/gateway).
import type { IngressToMain, MainToIngress } from '../src/agent/thread-messages.ts';
import { runIngressWorker } from '../src/gateway/ingress-worker-main.ts';
import { workerPort } from '../src/runtime/worker-port.ts';

runIngressWorker(workerPort<MainToIngress, IngressToMain>());
