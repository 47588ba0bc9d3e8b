// Starts a real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager) and a
// stand-in kubelet, builds them first if needed, prints an admin kubeconfig, and runs until SIGINT/SIGTERM
// (`kill <pid>` with the pid it prints), then stops every process by pid and removes its working directory.
// Usage: bun run scripts/kube/up.ts [--no-kubelet] [--kubeconfig PATH] [--compaction-interval 5m]
import { writeFileSync } from 'node:fs';
import { startRealKube } from '../../src/realkube/cluster.ts';
import { startStandInKubelet } from '../../src/realkube/standin-kubelet.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: bun run scripts/kube/up.ts [--no-kubelet] [--kubeconfig PATH] [--compaction-interval DURATION]');
  process.exit(0);
}
const say = (line: string) => process.stderr.write(`[realkube] ${line}\n`);
const t0 = Date.now();
const kube = await startRealKube({ log: say, ...(opt('--compaction-interval') ? { compactionInterval: opt('--compaction-interval') } : {}) });
const kubelet = args.includes('--no-kubelet') ? null : await startStandInKubelet(kube);
if (kubelet) say(`stand-in kubelet serving on 127.0.0.1:${kubelet.port} as Node ${kubelet.nodeName}`);
const path = opt('--kubeconfig') ?? `${kube.dir}/admin.kubeconfig`;
writeFileSync(path, kube.kubeconfig(), { mode: 0o600 });
const pids = kube.pids();
say(`ready in ${Date.now() - t0} ms; pids: etcd ${pids.etcd}, kube-apiserver ${pids.apiserver}, kube-controller-manager ${pids.controllerManager ?? '-'}`);
say(`audit log: ${kube.auditLogPath}`);
say(`kubeconfig: ${path}   (export KUBECONFIG=${path})`);
say(`stop with Ctrl-C or: kill ${process.pid}`);
process.stdout.write(kube.kubeconfig());

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping`);
  await kubelet?.stop();
  await kube.stop();
  say('stopped');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
