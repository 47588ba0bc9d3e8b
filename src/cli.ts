#!/usr/bin/env bun
// The single CLI: `agent` (default), `hub`, `demo`, `sandbox`. Exit codes: 0 ok, 1 runtime failure, 2 invalid
// configuration, 3 rejected by the control plane (token, registration).
// The commands load on demand: only the agent runs on Deno (npm run agent:deno); the hub, demo and sandbox need Bun.
// reflect-metadata first: in the compiled binary the on-demand commands are bundled lazily, and @peculiar/x509's DI
// container (reached eagerly through shared modules) must find the Reflect polyfill before it loads.
import 'reflect-metadata';
import './config/zod-jitless.ts';
import { homedir } from 'node:os';
import { runtime } from '#runtime';
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
  if ((first === 'hub' || first === 'demo' || first === 'sandbox') && runtime.name !== 'bun') {
    process.stderr.write(`"${first}" runs on Bun only (this is ${runtime.name} ${runtime.version}); only the agent runs on ${runtime.name}\n`);
    return 2;
  }
  if (first === 'hub') return (await import('./cli-hub.ts')).runHubCommand(rest, io);
  if (first === 'demo') return (await import('./cli-demo.ts')).runDemoCommand(rest, io);
  if (first === 'sandbox') return (await import('./cli-sandbox.ts')).runSandboxCommand(rest, io);
  if (first === 'agent') return runAgentCommand(rest, io);
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write(`pipeops-agent ${BUILD_INFO.version} (commit ${BUILD_INFO.commit}, ${runtime.name} ${runtime.version})\n`);
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
