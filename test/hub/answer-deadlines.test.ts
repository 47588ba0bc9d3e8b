import { describe, expect, test } from 'bun:test';
import { AnswerDeadlines } from '../../src/hub/agent-relay/answer-deadlines.ts';

describe('AnswerDeadlines', () => {
  test('expires the due exchanges in order, never a deleted one, and holds nothing once empty', async () => {
    const q = new AnswerDeadlines();
    const expired: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const mk = (name: string, inMs: number) => ({ deadlineAt: performance.now() + inMs, expire: () => { expired.push(name); if (expired.length === 2) done(); } });
    const a = q.add(mk('a', 5));
    q.add(mk('b', 10));
    const c = q.add(mk('c', 15));
    q.add(mk('d', 20));
    q.delete(a);
    q.delete(c);
    expect(q.size).toBe(2);
    await all;
    expect(expired).toEqual(['b', 'd']);
    expect(q.size).toBe(0);
  });

  test('a ticket deleted after the queue emptied and refilled does not touch the new exchange', () => {
    const q = new AnswerDeadlines();
    const far = () => ({ deadlineAt: performance.now() + 60_000, expire: () => {} });
    const t0 = q.add(far());
    q.delete(t0);
    const t1 = q.add(far());
    q.delete(t0);
    expect(q.size).toBe(1);
    q.delete(t1);
    expect(q.size).toBe(0);
  });
});
