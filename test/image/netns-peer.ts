// Runs inside the image test's network namespace (`ip netns exec NS bun netns-peer.ts SOCKET SA_TOKEN`): the
// sandbox Kubernetes API on 127.0.0.1 there (the agent container's cluster), and an HTTP relay on a Unix socket
// (sockets in the file system cross network namespaces) through which the test reaches ports in the namespace:
// the target port is the `x-netns-port` header. Prints one JSON line {sandboxPort, caPem}; stops on SIGTERM.
import { startSandbox } from '../../src/sandbox/index.ts';

const [socketPath, saToken] = process.argv.slice(2);
if (!socketPath || !saToken) throw new Error('usage: netns-peer.ts SOCKET SA_TOKEN');

const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, tls: 'generate', tokens: { [saToken]: { user: 'admin', rules: [{}] } }, seed: 'minimal' });
const relay = Bun.serve({
  unix: socketPath,
  async fetch(req) {
    const port = Number(req.headers.get('x-netns-port'));
    if (!Number.isInteger(port) || port <= 0) return new Response('x-netns-port header missing', { status: 400 });
    const u = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete('x-netns-port');
    headers.delete('host');
    try {
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
      return await fetch(`http://127.0.0.1:${port}${u.pathname}${u.search}`, { method: req.method, headers, body, redirect: 'manual' });
    } catch (e) {
      // The target is not listening (yet): a status the test's poll treats as "not yet".
      return new Response(`relay: ${(e as Error).message}`, { status: 599 });
    }
  },
});
process.stdout.write(`${JSON.stringify({ sandboxPort: sandbox.port, caPem: sandbox.caPem })}\n`);
process.on('SIGTERM', async () => {
  relay.stop(true);
  await sandbox.close();
  process.exit(0);
});
