// `pipeops-agent hub`: the self-hostable control plane.
import { HUB_HELP, loadHubConfig } from './hub/config.ts';
import { runHubKubeconfigCommand } from './hub/kube-gateway/kubeconfig-command.ts';
import { startHub } from './hub/server.ts';
import { createLogger, secrets } from './log/logger.ts';
import { onTerminate } from './cli-signals.ts';
import { BUILD_INFO } from './version.ts';

export async function runHubCommand(argv: string[], io: { env: Record<string, string | undefined> }): Promise<number> {
  if (argv[0] === 'kubeconfig') return runHubKubeconfigCommand(argv.slice(1), io);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HUB_HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`pipeops-agent hub ${BUILD_INFO.version}\n`);
    return 0;
  }
  const r = loadHubConfig(argv, io.env);
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 2;
  }
  for (const t of [...r.config.agent_tokens, ...r.config.admin_tokens, ...r.config.user_tokens]) secrets.add(t);
  const log = createLogger({ name: 'hub', level: r.config.log_level });
  const hub = await startHub(r.config, log);
  process.stdout.write(`${JSON.stringify({ event: 'hub_ready', url: hub.url, port: hub.port, kube_url: hub.kubeUrl, gateway_url: hub.gatewayUrl, gateway_tls_url: hub.gatewayTlsUrl })}\n`);
  let resolve: (code: number) => void = () => {};
  const done = new Promise<number>((r2) => {
    resolve = r2;
  });
  onTerminate(async () => {
    log.info('hub shutting down');
    await hub.stop();
    resolve(0);
  });
  return done;
}
