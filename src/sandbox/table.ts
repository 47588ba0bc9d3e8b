// Wraps objects in a meta.k8s.io/v1 Table, the representation kubectl's human-readable output is built from.
import { type KubeObject, metaOf } from './kube-object.ts';
import type { ResourceKind } from './resource-registry.ts';
import { defaultPrinter } from './table-printers.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function parseIncludeObject(v: string | null): IncludeObject {
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function rowObject(k: ResourceKind, o: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return { ...o, apiVersion: o.apiVersion ?? k.version, kind: o.kind ?? k.kind };
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metaOf(o) };
}

export function toTable(
  k: ResourceKind,
  objs: KubeObject[],
  opts: { now: number; include: IncludeObject; resourceVersion?: string },
): KubeObject {
  const printer = k.printer ?? defaultPrinter;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {},
    columnDefinitions: printer.columns,
    rows: objs.map((o) => {
      const object = rowObject(k, o, opts.include);
      return { cells: printer.cells(o, opts.now), ...(object ? { object } : {}) };
    }),
  };
}
