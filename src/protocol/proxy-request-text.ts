// The kube gateway's `proxy_request` envelope (protocol.md §3.1) written as text in one pass over node's rawHeaders:
// byte for byte what `encodeEnvelope('proxy_request', buildProxyRequest(…).payload, id)` gives (JSON.stringify of
// the envelope), without the header map, the payload and envelope objects or a generic stringify per request
// (issue 14: the hub's CPU per small request). Pure; the property test in test/protocol/ holds it to that reference.
import { encodeIdFrame } from './binary-frame.ts';
import { addConnectionTokens, canonicalHeaderName, HOP_BY_HOP } from './http-headers.ts';
import { INLINE_BODY_MAX, type OutboundInput } from './proxy-request-builders.ts';

/** What a header name decides, looked up once per distinct spelling. */
interface NameInfo {
  canonical: string;
  /** `canonical` as a JSON string. */
  json: string;
  lower: string;
  /** Never forwarded: hop-by-hop or in the writer's drop list. */
  dropped: boolean;
  /** The Connection header (its value lists more names to drop). */
  connection: boolean;
  /** The array index `canonical` spells (JSON.stringify writes such keys first, in numeric order), else -1. */
  index: number;
}

/** Strings JSON.stringify would escape: `"`, `\`, control characters, and surrogates (a lone one is escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** A string as JSON.stringify writes it (quoted as it is when nothing needs escaping: 0.64 against 0.85 µs a request). */
export const jsonString = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;
const arrayIndex = (s: string): number => (ARRAY_INDEX.test(s) && Number(s) < 4294967295 ? Number(s) : -1);

/** Distinct name spellings remembered per writer: a request carries the same dozen names every time. */
const NAME_CACHE_MAX = 1024;
const CONNECTION_CACHE_MAX = 64;
/** Forwarded names up to which repeats are found by a scan of those before. */
const MANY_NAMES = 32;

export class ProxyRequestWriter {
  readonly #drop: ReadonlySet<string>;
  readonly #names = new Map<string, NameInfo>();
  /** Connection header values and the names they list that would otherwise be forwarded (null: none). */
  readonly #listedBy = new Map<string, ReadonlySet<string> | null>();
  // Scratch of one call (write is synchronous and not re-entered): the forwarded names and their values.
  #slots: NameInfo[] = [];
  #first: string[] = [];
  #more: (string[] | undefined)[] = [];
  /** Each header pair's NameInfo, looked up once (a Map lookup hashes the name: the request's strings are new). */
  #infos: NameInfo[] = [];

  /** `drop`: names (any case) never forwarded, besides the hop-by-hop ones and those the Connection header lists. */
  constructor(drop: readonly string[]) {
    this.#drop = new Set(drop.map((d) => d.toLowerCase()));
  }

  #info(raw: string): NameInfo {
    const hit = this.#names.get(raw);
    if (hit) return hit;
    const canonical = canonicalHeaderName(raw);
    const lower = canonical.toLowerCase();
    const info: NameInfo = { canonical, json: jsonString(canonical), lower, dropped: HOP_BY_HOP.has(lower) || this.#drop.has(lower), connection: lower === 'connection', index: arrayIndex(canonical) };
    if (this.#names.size < NAME_CACHE_MAX) this.#names.set(raw, info);
    return info;
  }

  /** The names a Connection value lists, less those dropped anyway (most clients send `keep-alive` on every request). */
  #listed(value: string): ReadonlySet<string> | null {
    const hit = this.#listedBy.get(value);
    if (hit !== undefined) return hit;
    let kept: Set<string> | null = null;
    for (const t of addConnectionTokens(null, value) ?? []) if (!HOP_BY_HOP.has(t) && !this.#drop.has(t)) (kept ??= new Set()).add(t);
    if (this.#listedBy.size < CONNECTION_CACHE_MAX) this.#listedBy.set(value, kept);
    return kept;
  }

  /**
   * The envelope's text (`stamp`: its RFC 3339 timestamp) and the binary body frame to send right after it, as
   * buildProxyRequest decides (body inline as base64 up to INLINE_BODY_MAX, else `body_binary` and the frame).
   */
  write(i: OutboundInput, stamp: string): { text: string; frame: Uint8Array<ArrayBuffer> | null } {
    const raw = i.rawHeaders;
    let listed: ReadonlySet<string> | null = null;
    const infos = this.#infos;
    for (let k = 0; k + 1 < raw.length; k += 2)
      if ((infos[k >> 1] = this.#info(raw[k]!)).connection) {
        const more = this.#listed(raw[k + 1]!);
        if (more) listed = listed ? new Set([...listed, ...more]) : more;
      }
    const slots = this.#slots;
    const first = this.#first;
    const more = this.#more;
    let n = 0;
    let indexed = false;
    // Past a few dozen names a map finds repeats (a linear scan would be quadratic in a client's header count).
    let byName: Map<string, number> | null = null;
    for (let k = 0; k + 1 < raw.length; k += 2) {
      const info = infos[k >> 1]!;
      if (info.dropped || listed?.has(info.lower)) continue;
      const v = raw[k + 1]!;
      if (n === MANY_NAMES && !byName) {
        byName = new Map();
        for (let j = 0; j < n; j++) byName.set(slots[j]!.canonical, j);
      }
      const at = byName ? (byName.get(info.canonical) ?? -1) : slotOf(slots, n, info.canonical);
      if (at >= 0) (more[at] ??= []).push(v);
      else {
        byName?.set(info.canonical, n);
        slots[n] = info;
        first[n] = v;
        more[n] = undefined;
        if (info.index >= 0) indexed = true;
        n++;
      }
    }
    if (i.serviceToken) {
      const auth = this.#info('Authorization');
      const v = `Bearer ${i.serviceToken}`;
      const at = byName ? (byName.get(auth.canonical) ?? -1) : slotOf(slots, n, auth.canonical);
      // An Authorization the drop list let through keeps its place and gets the token as its only value.
      if (at >= 0) {
        first[at] = v;
        more[at] = undefined;
      } else {
        slots[n] = auth;
        first[n] = v;
        more[n] = undefined;
        n++;
      }
    }
    let headers = '{';
    const order = indexed ? keyOrder(slots, n) : null;
    for (let j = 0; j < n; j++) {
      const s = order ? order[j]! : j;
      if (j) headers += ',';
      headers += `${slots[s]!.json}:[${jsonString(first[s]!)}`;
      const rest = more[s];
      if (rest) for (const v of rest) headers += `,${jsonString(v)}`;
      headers += ']';
    }
    headers += '}';
    slots.length = first.length = more.length = infos.length = 0;

    let payload = `{"method":${jsonString(i.method.toUpperCase())},"path":${jsonString(i.path)},"query":${jsonString(i.query)},"headers":${headers},"supports_response_streaming":${i.streaming}`;
    if (i.binaryChunks) payload += ',"binary_chunks":true';
    let frame: Uint8Array<ArrayBuffer> | null = null;
    if (i.body.length > INLINE_BODY_MAX) {
      payload += `,"body_binary":true,"body_size":${i.body.length}`;
      frame = encodeIdFrame(i.requestId, i.body);
    } else if (i.body.length > 0) payload += `,"body":"${Buffer.from(i.body.buffer, i.body.byteOffset, i.body.byteLength).toString('base64')}","body_encoding":"base64"`;
    payload += '}';
    const id = i.requestId ? `"request_id":${jsonString(i.requestId)},` : '';
    return { text: `{"type":"proxy_request",${id}"payload":${payload},"timestamp":${jsonString(stamp)}}`, frame };
  }
}

function slotOf(slots: NameInfo[], n: number, canonical: string): number {
  for (let j = 0; j < n; j++) if (slots[j]!.canonical === canonical) return j;
  return -1;
}

/** Slot order of an object's own keys: array indices ascending first, then the rest in insertion order. */
function keyOrder(slots: NameInfo[], n: number): number[] {
  const order = Array.from({ length: n }, (_, j) => j);
  const idx = order.filter((j) => slots[j]!.index >= 0).sort((a, b) => slots[a]!.index - slots[b]!.index);
  return [...idx, ...order.filter((j) => slots[j]!.index < 0)];
}
