// `pipeops-agent hub`: the self-hostable control plane.
import { hubHelpText, hubPrintConfig, loadHubConfig } from './hub/config/load.ts';
import { runHubKubeconfigCommand } from './hub/kube-gateway/kubeconfig-command.ts';
import { startHub } from './hub/server.ts';
import { createLogger, secrets } from './log/logger.ts';
import { onTerminate } from './cli-signals.ts';
import { BUILD_INFO } from './version.ts';

export async function runHubCommand(argv: string[], io: { env: Record<string, string | undefined> }): Promise<number> {
  if (argv[0] === 'kubeconfig') return runHubKubeconfigCommand(argv.slice(1), io);
  const r = loadHubConfig(argv, io.env);
  if (r.actions.help) {
    process.stdout.write(hubHelpText());
    return 0;
  }
  if (r.actions.version) {
    process.stdout.write(`pipeops-agent hub ${BUILD_INFO.version}\n`);
    return 0;
  }
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 2;
  }
  const c = r.config;
  for (const t of [...c.agent_tokens, ...c.admin_tokens, ...c.user_tokens, ...c.credentials.previous_keys, c.credentials.key, c.replica.secret, c.database]) if (t) secrets.add(t);
  // The database password alone too (a driver error may quote it without the rest of the URL).
  const dbPassword = c.database ? URL.parse(c.database)?.password : '';
  if (dbPassword) secrets.add(decodeURIComponent(dbPassword));
  if (r.actions.printConfig) {
    process.stdout.write(hubPrintConfig(r));
    return 0;
  }
  const log = createLogger({ name: 'hub', level: c.log_level });
  let hub: Awaited<ReturnType<typeof startHub>>;
  try {
    hub = await startHub(c, log);
  } catch (e) {
    // Operational problems (state directory, ports, certificates): one line an operator can act on.
    process.stderr.write(`hub: cannot start: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  }
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
