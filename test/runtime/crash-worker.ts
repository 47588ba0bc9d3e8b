// A worker for the runtime contract test: says it is up, echoes, and throws (uncaught) when told to crash.
declare const self: { postMessage(m: unknown): void; onmessage: ((e: MessageEvent) => void) | null };

self.onmessage = (e) => {
  if (e.data === 'crash') throw new Error('crash requested by the test');
  self.postMessage({ echo: e.data });
};
self.postMessage('up');

export {};
