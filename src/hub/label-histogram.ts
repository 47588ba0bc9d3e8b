// A Prometheus histogram with two labels, counted in plain arrays and rendered by prom-client's registry at a scrape
// exactly as its own Histogram renders (test/hub/label-histogram.test.ts compares the two): prom-client's `observe`
// validates and hashes the labels and turns each bucket bound into a property key on every call, which was a
// measurable share of the kube gateway's CPU per request (issue 14).
import type { Histogram, Registry } from 'prom-client';

interface Series {
  /** Observations per bucket (not cumulative); one past the last bound for the values above all of them. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

export class LabelHistogram<A extends string, B extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** first label value → second label value → series, in the order label sets first appeared (as prom-client's). */
  readonly #series = new Map<string, Map<string, Series>>();
  #order: [string, string, Series][] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly [A, B],
    readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    // The registry asks a metric only for name, get/getForPromString (and reset/type for its other methods).
    registry.registerMetric(this as unknown as Histogram<string>);
  }

  /** One observation (seconds); non-finite values are ignored (prom-client throws on them). */
  observe(a: string, b: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let byB = this.#series.get(a);
    if (!byB) this.#series.set(a, (byB = new Map()));
    let s = byB.get(b);
    if (!s) {
      byB.set(b, (s = { counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 }));
      this.#order.push([a, b, s]);
    }
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  reset(): void {
    this.#series.clear();
    this.#order = [];
  }

  /** What prom-client's Histogram#getForPromString returns for the same observations. */
  getForPromString(): { name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' } {
    const values: Sample[] = [];
    const [na, nb] = this.labelNames;
    for (const [a, b, s] of this.#order) {
      const shared = { [na]: a, [nb]: b } as Record<string, string>;
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.upperBounds[i]! }, sharedLabels: shared, value: acc, metricName: `${this.name}_bucket`, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** What prom-client's Histogram#get returns (the shared labels folded into each sample's labels). */
  get(): { name: string; help: string; type: 'histogram'; values: Omit<Sample, 'sharedLabels'>[]; aggregator: 'sum' } {
    const d = this.getForPromString();
    return { name: d.name, help: d.help, type: d.type, values: d.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })), aggregator: d.aggregator };
  }
}
