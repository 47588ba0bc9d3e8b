// `npm run fuzz -- --cases N --seed S [--messages M]`: the fuzz part of the suite (test/fuzz) with a bigger
// budget. --cases: decoder cases in total (default 200000); --messages: live messages to the real agent
// (default 20000); --seed: fast-check and mutation seed (default: random, printed so a failure can be replayed).
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const cases = arg('cases') ?? '200000';
const messages = arg('messages') ?? '20000';
const seed = arg('seed') ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: ${cases} decoder cases, ${messages} live messages, seed ${seed}`);
const p = Bun.spawn([process.execPath, 'test', '--timeout', '3600000', 'test/fuzz'], {
  cwd: `${import.meta.dir}/..`,
  stdio: ['inherit', 'inherit', 'inherit'],
  env: { ...process.env, PIPEOPS_FUZZ_CASES: cases, PIPEOPS_FUZZ_MESSAGES: messages, PIPEOPS_FUZZ_SEED: seed, PIPEOPS_FUZZ_VERBOSE: '1' },
});
process.exit(await p.exited);
