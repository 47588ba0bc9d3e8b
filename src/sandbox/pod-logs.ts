// Container log buffers and the `pods/{name}/log` endpoint: backlog, tailLines, sinceSeconds, timestamps, and
// `follow` streams that stay open until endLogs() or pod deletion.
import type { ServerResponse } from 'node:http';
import { type ApiError, badRequest } from './api-status.ts';
import { asArray, asRecord, asString, type KubeObject, metaOf } from './kube-object.ts';

interface LogLine {
  at: number;
  text: string;
}

interface Follower {
  timestamps: boolean;
  write(line: LogLine): void;
  end(): void;
}

interface ContainerLog {
  lines: LogLine[];
  followers: Set<Follower>;
  /** endLogs() was called: the container is "terminated", followers are released right after the backlog. */
  ended: boolean;
}

const key = (ns: string, pod: string, container: string) => `${ns}/${pod}/${container}`;

function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

function format(line: LogLine, timestamps: boolean): string {
  const text = line.text.endsWith('\n') ? line.text : `${line.text}\n`;
  return timestamps ? `${rfc3339Nano(line.at)} ${text}` : text;
}

export class LogBook {
  /** Live `follow` streams across all pods (tests assert a proxy cancel really closed one). */
  followerCount(): number {
    let n = 0;
    for (const l of this.#logs.values()) n += l.followers.size;
    return n;
  }

  readonly #logs = new Map<string, ContainerLog>();

  #log(ns: string, pod: string, container: string): ContainerLog {
    const k = key(ns, pod, container);
    let l = this.#logs.get(k);
    if (!l) {
      l = { lines: [], followers: new Set(), ended: false };
      this.#logs.set(k, l);
    }
    return l;
  }

  append(ns: string, pod: string, container: string, text: string): void {
    const l = this.#log(ns, pod, container);
    l.ended = false;
    const line = { at: Date.now(), text };
    l.lines.push(line);
    for (const f of l.followers) f.write(line);
  }

  /** Ends live follow streams; without `container`, those of every container of the pod. */
  end(ns: string, pod: string, container?: string): void {
    for (const [k, l] of this.#logs) {
      if (container ? k === key(ns, pod, container) : k.startsWith(`${ns}/${pod}/`)) {
        l.ended = true;
        for (const f of l.followers) f.end();
        l.followers.clear();
      }
    }
    if (container) this.#log(ns, pod, container).ended = true;
  }

  /** Pod deleted: followers end and the buffers go. */
  forget(ns: string, pod: string): void {
    this.end(ns, pod);
    for (const k of [...this.#logs.keys()]) if (k.startsWith(`${ns}/${pod}/`)) this.#logs.delete(k);
  }

  lines(ns: string, pod: string, container: string): string[] {
    return this.#log(ns, pod, container).lines.map((l) => l.text);
  }

  /** Serves GET …/pods/{pod}/log for an existing pod. */
  serve(res: ServerResponse, pod: KubeObject, query: URLSearchParams): ApiError | undefined {
    const m = metaOf(pod);
    const ns = m.namespace ?? 'default';
    const containers = asArray(asRecord(pod.spec).containers).map((c) => asString(asRecord(c).name));
    const init = asArray(asRecord(pod.spec).initContainers).map((c) => asString(asRecord(c).name));
    let container = query.get('container') ?? '';
    if (!container) {
      if (containers.length !== 1) {
        return badRequest(
          `a container name must be specified for pod ${m.name}, choose one of: [${containers.join(' ')}]${init.length ? ` or one of the init containers: [${init.join(' ')}]` : ''}`,
        );
      }
      container = containers[0] as string;
    }
    if (!containers.includes(container) && !init.includes(container)) {
      return badRequest(`container ${container} is not valid for pod ${m.name}`);
    }
    if (query.get('previous') === 'true') {
      return badRequest(`previous terminated container "${container}" in pod "${m.name}" not found`);
    }
    const log = this.#log(ns, m.name ?? '', container);
    const timestamps = query.get('timestamps') === 'true';
    let backlog = log.lines;
    const since = Number(query.get('sinceSeconds') ?? '');
    if (since > 0) backlog = backlog.filter((l) => l.at >= Date.now() - since * 1000);
    const tail = query.get('tailLines');
    if (tail !== null && Number(tail) >= 0) backlog = Number(tail) === 0 ? [] : backlog.slice(-Number(tail));
    const follow = query.get('follow') === 'true';
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    const text = backlog.map((l) => format(l, timestamps)).join('');
    if (text) res.write(text);
    if (!follow || log.ended) {
      res.end();
      return undefined;
    }
    const f: Follower = {
      timestamps,
      write: (line) => res.write(format(line, timestamps)),
      end: () => res.end(),
    };
    log.followers.add(f);
    res.on('close', () => log.followers.delete(f));
    return undefined;
  }
}
