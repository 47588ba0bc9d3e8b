#!/usr/bin/env bun
// The single CLI: `agent` (default), `hub`, `demo`, `sandbox`. Exit codes: 0 ok, 1 runtime failure, 2 invalid
// configuration, 3 rejected by the control plane (token, registration).
// Before anything lazily loads @peculiar/x509 (hub, demo, sandbox TLS): its DI container needs the polyfill when
// its module is evaluated, and inside the bundle a lazily imported graph may evaluate it before mint-certificates.ts's own import.
import 'reflect-metadata';
import { homedir } from 'node:os';
import { runAgentCommand } from './cli-agent.ts';
import { BUILD_INFO } from './version.ts';

const USAGE = `pipeops-agent ${BUILD_INFO.version}

Usage: pipeops-agent [agent] [flags]     run the Kubernetes agent (default)
       pipeops-agent hub [flags]         run the self-hostable control plane
       pipeops-agent demo [--dir D]      sandbox cluster + hub + agent, ready for kubectl and curl
       pipeops-agent sandbox [--kubeconfig F]  the sandbox cluster alone; writes a kubeconfig for the agent

Each command has --help. --version prints the version.
`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const env = process.env as Record<string, string | undefined>;
  const io = { env, cwd: process.cwd(), home: homedir() };
  // The other commands load only when asked for: the agent (the default, what runs in every cluster) does not pay
  // for evaluating the hub's, the demo's and the sandbox's modules in its idle memory (issue 14, target 4).
  if (first === 'hub') return (await import('./cli-hub.ts')).runHubCommand(rest, io);
  if (first === 'demo') return (await import('./cli-demo.ts')).runDemoCommand(rest, io);
  if (first === 'sandbox') return (await import('./cli-sandbox.ts')).runSandboxCommand(rest, io);
  if (first === 'agent') return runAgentCommand(rest, io);
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write(`pipeops-agent ${BUILD_INFO.version} (commit ${BUILD_INFO.commit}, bun ${BUILD_INFO.bunVersion})\n`);
    return 0;
  }
  if (first && !first.startsWith('-')) {
    process.stderr.write(`unknown command "${first}"\n\n${USAGE}`);
    return 2;
  }
  return runAgentCommand(argv, io);
}

const code = await main(process.argv.slice(2));
if (code !== -1) process.exit(code);
