// Accept-header negotiation for the few representations the apiserver offers: plain JSON, Table, aggregated discovery.

export interface MediaType {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(accept: string | undefined): MediaType[] {
  if (!accept) return [];
  return accept.split(',').map((part) => {
    const [type, ...rest] = part.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const r of rest) {
      const eq = r.indexOf('=');
      if (eq > 0) params[r.slice(0, eq).trim()] = r.slice(eq + 1).trim();
    }
    return { type: (type ?? '').toLowerCase(), params };
  });
}

export type DiscoveryFlavour = 'v2' | 'v2beta1' | 'legacy';

/** First acceptable discovery representation in the client's order. */
export function discoveryFlavour(accept: string | undefined, aggregatedEnabled: boolean): DiscoveryFlavour {
  for (const m of parseAccept(accept)) {
    if (m.params.as === 'APIGroupDiscoveryList' && m.params.g === 'apidiscovery.k8s.io') {
      if (!aggregatedEnabled) continue;
      if (m.params.v === 'v2') return 'v2';
      if (m.params.v === 'v2beta1') return 'v2beta1';
      continue;
    }
    if (m.type === 'application/json' || m.type === '*/*' || m.type === 'application/*') return 'legacy';
  }
  return 'legacy';
}

export function aggregatedContentType(v: 'v2' | 'v2beta1'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
}

/** True when the first acceptable representation is a meta.k8s.io Table (what kubectl's printers ask for). */
export function wantsTable(accept: string | undefined): boolean {
  for (const m of parseAccept(accept)) {
    if (m.params.as === 'Table' && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) {
      return true;
    }
    if (m.type === 'application/json' || m.type === '*/*') return false;
  }
  return false;
}

/** `as=PartialObjectMetadataList` / `as=PartialObjectMetadata` (meta.k8s.io v1 or v1beta1) first in Accept. */
export function wantsMetadataOnly(accept: string | undefined): boolean {
  for (const m of parseAccept(accept)) {
    const as = m.params.as;
    if ((as === 'PartialObjectMetadataList' || as === 'PartialObjectMetadata') && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) return true;
    if (m.type === 'application/json' || m.type === '*/*') return false;
  }
  return false;
}
