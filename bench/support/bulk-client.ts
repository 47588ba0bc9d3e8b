// Bulk client for bench/tunnel.ts: fetches a large body over a raw (TLS) socket, optionally reading at a fixed
// rate, in its own process so that its CPU and event loop do not disturb the small-request client's latencies.
// A raw socket, not fetch: pausing the socket stops reading from the kernel, so a rate-limited read is real TCP
// backpressure all the way back to the sender (a fetch body stream may buffer ahead of the reader).
//   bun bench/support/bulk-client.ts --url URL [--rate MIB_PER_S] [--count N] [--ca FILE]
// The bearer token, if any, comes from the BENCH_BULK_AUTH environment variable (never argv).
// Prints one JSON line per finished transfer ({"event":"transfer","bytes":…,"ms":…}) and "flowing" once the first
// MiB of the first body has arrived. --count 0 (default) loops until killed.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const arg = (name: string, dflt = '') => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const url = new URL(arg('url'));
const rate = Number(arg('rate', '0')) * (1 << 20); // bytes/s; 0 = as fast as possible
const count = Number(arg('count', '0'));
const caFile = arg('ca');
const auth = process.env.BENCH_BULK_AUTH;

function emit(o: Record<string, unknown>) {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** One GET; resolves with the body size once the whole body has been read. */
function transfer(first: boolean): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const onConnect = () => {
      const head = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', ...(auth ? [`Authorization: Bearer ${auth}`] : []), '', ''].join('\r\n');
      sock.write(head);
    };
    const sock: net.Socket =
      url.protocol === 'https:'
        ? tls.connect({ host: url.hostname, port, ca: caFile ? readFileSync(caFile, 'utf8') : undefined }, onConnect)
        : net.connect({ host: url.hostname, port }, onConnect);
    const t0 = performance.now();
    let header = Buffer.alloc(0);
    let headerDone = false;
    let length = -1;
    /** Chunked transfer coding (a streamed answer through the hub): bytes left in the current chunk, or -1 while reading a size line. */
    let chunked = false;
    let chunkLeft = -1;
    let sizeLine = '';
    let ended = false;
    let got = 0;
    let flowing = !first;
    let paused = false;
    const finish = () => {
      ended = true;
      sock.destroy();
      resolve({ bytes: got, ms: performance.now() - t0 });
    };
    /** Body bytes in `d` under chunked coding; sets `ended` at the last chunk. */
    const dechunk = (d: Buffer): number => {
      let n = 0;
      let i = 0;
      while (i < d.length) {
        if (chunkLeft > 0) {
          const take = Math.min(chunkLeft, d.length - i);
          n += take;
          chunkLeft -= take;
          i += take;
          if (chunkLeft === 0) chunkLeft = -2; // the CRLF after the data
          continue;
        }
        const c = d[i++]!;
        if (c !== 10) {
          sizeLine += String.fromCharCode(c);
          continue;
        }
        const line = sizeLine.trim();
        sizeLine = '';
        if (chunkLeft === -2) {
          chunkLeft = -1;
          continue;
        }
        const size = Number.parseInt(line, 16);
        if (size === 0) {
          ended = true;
          break;
        }
        chunkLeft = size;
      }
      return n;
    };
    sock.on('data', (d: Buffer) => {
      if (!headerDone) {
        header = Buffer.concat([header, d]);
        const end = header.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = header.subarray(0, end).toString('latin1');
        const status = Number(text.split(' ')[1]);
        if (status !== 200) return reject(new Error(`bulk GET ${url.pathname}: HTTP ${status}`));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        chunked = /\r\ntransfer-encoding:\s*chunked/i.test(text);
        if (!m && !chunked) return reject(new Error('bulk GET: neither Content-Length nor chunked'));
        length = m ? Number(m[1]) : Number.POSITIVE_INFINITY;
        headerDone = true;
        d = header.subarray(end + 4);
      }
      got += chunked ? dechunk(d) : d.length;
      if (!flowing && got >= 1 << 20) {
        flowing = true;
        emit({ event: 'flowing' });
      }
      if (got >= length || ended) return finish();
      if (rate > 0 && !paused) {
        const ahead = (got / rate) * 1000 - (performance.now() - t0);
        if (ahead > 1) {
          paused = true;
          sock.pause();
          setTimeout(() => {
            paused = false;
            sock.resume();
          }, ahead);
        }
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      if (!ended && got < length) reject(new Error(`bulk GET: connection closed after ${got} of ${length} bytes`));
    });
  });
}

for (let i = 0; count === 0 || i < count; i++) {
  try {
    const r = await transfer(i === 0);
    emit({ event: 'transfer', ...r });
  } catch (e) {
    emit({ event: 'error', error: (e as Error).message });
    process.exit(1);
  }
}
process.exit(0);
