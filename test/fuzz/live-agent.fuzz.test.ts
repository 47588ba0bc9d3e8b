// Live fuzz of the real agent process by a fake control plane (issue 19): PIPEOPS_FUZZ_MESSAGES mutated text
// and binary messages (plus the exact crash inputs), seed PIPEOPS_FUZZ_SEED. Zero worker restarts, zero session
// drops, /health 200 at every sample, RSS bounded, and abandoned requests and streams reclaimed afterwards.
import { expect, test } from 'bun:test';
import { runLiveFuzz } from './live-fuzz.ts';

const MESSAGES = Number(process.env.PIPEOPS_FUZZ_MESSAGES ?? 10_000);
const SEED = Number(process.env.PIPEOPS_FUZZ_SEED ?? 19);
/** Peak agent RSS allowed (the offline run peaked at 147 MB over 200,000 messages). */
const RSS_BOUND_MIB = 400;

test(`live fuzz: ${MESSAGES} mutated control-plane messages, seed ${SEED}`, async () => {
  const r = await runLiveFuzz({ messages: MESSAGES, seed: SEED, log: (s) => process.env.PIPEOPS_FUZZ_VERBOSE && console.log(s) });
  if (r.failureWindow) console.log(`messages since the last good checkpoint:\n${r.failureWindow.join('\n').slice(0, 20_000)}`);
  console.log(`live fuzz: sent ${r.sent}, RSS ${r.rssStartMiB.toFixed(0)} → peak ${r.rssPeakMiB.toFixed(0)} MiB, /health ${r.healthSamples - r.healthFailures}/${r.healthSamples} ok`);
  expect(r.failureWindow).toBeNull();
  expect(r.sent).toBeGreaterThanOrEqual(MESSAGES);
  expect({ sessions: r.sessions, sessionCloses: r.sessionCloses, workerRestarts: r.workerRestarts, healthFailures: r.healthFailures }).toEqual({ sessions: 1, sessionCloses: 0, workerRestarts: 0, healthFailures: 0 });
  expect(r.healthSamples).toBeGreaterThan(0);
  expect(r.rssPeakMiB).toBeLessThan(RSS_BOUND_MIB);
  expect({ forwards: r.forwardsActiveAfter, streams: r.streamsActiveAfter }).toEqual({ forwards: 0, streams: 0 });
}, 600_000);
