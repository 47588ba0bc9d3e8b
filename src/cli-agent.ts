// `pipeops-agent agent`: load configuration, run the agent until a signal or a fatal error.
import { helpText } from './config/help.ts';
import { loadConfig } from './config/load.ts';
import { formatEffectiveConfig } from './config/redact.ts';
import { AgentStartupError, runAgent } from './agent/run.ts';
import { onTerminate } from './cli-signals.ts';
import { BUILD_INFO } from './version.ts';

export async function runAgentCommand(argv: string[], io: { env: Record<string, string | undefined>; cwd: string; home: string }): Promise<number> {
  const r = loadConfig({ argv, env: io.env, cwd: io.cwd, home: io.home });
  if (r.actions.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (r.actions.version) {
    process.stdout.write(`pipeops-agent ${BUILD_INFO.version}\n`);
    return 0;
  }
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 2;
  }
  if (r.actions.printConfig) {
    process.stdout.write(formatEffectiveConfig(r.config, r.sources));
    return 0;
  }
  // Installed before anything starts, so an early SIGTERM still shuts down cleanly.
  let agent: Awaited<ReturnType<typeof runAgent>> | null = null;
  let early: ((code: number) => void) | null = null;
  const earlyExit = new Promise<number>((resolve) => {
    early = resolve;
  });
  onTerminate(async () => {
    if (agent) await agent.stop();
    else early?.(0);
  }, r.config.timeouts.shutdown);
  try {
    agent = await runAgent(r.config, { env: io.env });
    return await Promise.race([agent.done, earlyExit]);
  } catch (e) {
    if (e instanceof AgentStartupError) {
      process.stderr.write(`pipeops-agent: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
