// Bun plugin: rewrites @kubernetes/client-node's `from 'undici'` to our shim (see undici-bun.ts for why).
// `onResolve` is never called for built-ins, so `onLoad` rewriting is the only hook that works.
import type { BunPlugin } from 'bun';

const shimPath = new URL('./undici-bun.ts', import.meta.url).pathname;

export const undiciShim: BunPlugin = {
  name: 'k8s-undici-to-bun-fetch',
  setup(b) {
    b.onLoad({ filter: /@kubernetes[\\/]client-node[\\/]dist[\\/].*\.js$/ }, async (a) => ({
      contents: (await Bun.file(a.path).text()).replaceAll(/from\s+'undici'/g, `from ${JSON.stringify(shimPath)}`),
      loader: 'js',
    }));
  },
};
