// The `gateway.*` block: the exposure objects the agent keeps (Istio Gateway + VirtualService, or Gateway API
// Gateway + TCPRoute/UDPRoute), as the product documents it (../shared/context/product-gateway-l4.md). List items
// are accepted in the config file's snake_case and in the camelCase of the product's env/flag JSON examples
// (`sectionName`, `backendRefs`, `sniHosts`); defaults (listener protocol TCP, name `<proto>-<port>`) are applied
// here, and every cross-reference is checked at load time so that a bad block is a config error (exit 2).
import { z } from 'zod';
import { bool, leaf, str } from './fields.ts';

/** A list of objects whose items are normalised (transforms): `prefault` keeps the default in the input JSON Schema. */
function objectList<T extends z.ZodType>(item: T, description: string) {
  return leaf(z.array(item).prefault([]), description, { kind: 'object-list', type: 'list of objects (JSON in env/flags)' });
}

/** RFC 1123 label: what Kubernetes accepts as a listener, port or object name here. */
export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * The `gateway` block's schema, built on each call: the agent's config schema is built for loading the
 * configuration and collected after it (schema.ts, `agentConfigSchema`).
 */
export function gatewaySchema() {
  const PORT = z.number({ error: 'expected a port 1–65535' }).int({ error: 'expected a port 1–65535' }).min(1, { error: 'expected a port 1–65535' }).max(65535, { error: 'expected a port 1–65535' });
  const name = (what: string) => z.string().regex(DNS_LABEL, { error: `${what} must be a lower-case RFC 1123 label (a-z, 0-9, '-', at most 63)` });

  const backendRef = z.looseObject({
    name: z.string().regex(DNS_SUBDOMAIN, { error: 'backend name must be a Kubernetes Service name' }),
    namespace: z.string().regex(DNS_LABEL, { error: 'backend namespace must be a Kubernetes namespace name' }).optional(),
    port: PORT,
  });
  const destination = z.looseObject({ host: z.string().min(1, { error: 'destination host is required' }), port: PORT });

  /** `port` is `{number, name, protocol}` as in the product's JSON (`protocol` defaults to TCP). */
  const istioServer = z
    .looseObject({
      port: z.looseObject({ number: PORT, name: name('server port name'), protocol: z.string().optional() }),
      hosts: z.array(z.string()).optional(),
      tls: z.record(z.string(), z.unknown()).optional(),
    })
    .transform((s) => ({ ...s, port: { ...s.port, protocol: (s.port.protocol ?? 'TCP').toUpperCase() } }));
  const istioTcpRoute = z.looseObject({ name: name('route name'), port: PORT, destination });
  const istioTlsRoute = z
    .looseObject({
      name: name('route name'),
      port: PORT.optional(),
      sni_hosts: z.array(z.string()).optional(),
      sniHosts: z.array(z.string()).optional(),
      destination,
    })
    .transform(({ sniHosts, ...r }) => ({ ...r, sni_hosts: r.sni_hosts ?? sniHosts ?? [] }));
  const gwListener = z
    .looseObject({ name: name('listener name').optional(), port: PORT, protocol: z.string().optional() })
    .transform((l) => {
      const protocol = (l.protocol ?? 'TCP').toUpperCase();
      return { ...l, protocol, name: l.name ?? `${protocol.toLowerCase()}-${l.port}` };
    });
  const gwRoute = z
    .looseObject({
      name: name('route name'),
      section_name: z.string().optional(),
      sectionName: z.string().optional(),
      backend_refs: z.array(backendRef).optional(),
      backendRefs: z.array(backendRef).optional(),
    })
    .transform(({ sectionName, backendRefs, ...r }) => ({ ...r, section_name: r.section_name ?? sectionName ?? '', backend_refs: r.backend_refs ?? backendRefs ?? [] }));

  return z
    .object({
      enabled: bool(false, 'Create and keep the exposure objects below (Istio or Gateway API) with server-side apply; objects no longer configured are removed.'),
      release_name: str('pipeops-gateway', 'Name of the exposure Gateway (and VirtualService); also labels every object the agent owns (upstream: the Helm release name).'),
      namespace: str('pipeops-system', 'Namespace of the exposure objects.'),
      environment: z
        .object({
          mode: str('', '`managed` or `single-vm`; empty = detect (k3s or one node ⇒ single-vm).'),
          vm_ip: str('', 'In single-vm mode: the VM\'s IP, set as the Gateway API Gateway\'s address; empty = the node\'s ExternalIP, else InternalIP.'),
        })
        .prefault({}),
      istio: z
        .object({
          enabled: bool(false, 'Keep an Istio Gateway and VirtualService (TCP and TLS routes).'),
          service: z
            .object({
              create: bool(false, 'Accepted for compatibility; no effect: the agent does not create a LoadBalancer Service for the Istio ingress gateway.'),
              namespace: str('istio-system', 'Namespace of the Istio ingress gateway (informational).'),
            })
            .prefault({}),
          gateway: z
            .object({
              selector: leaf(z.record(z.string(), z.string()).default({ istio: 'ingressgateway' }), 'Istio Gateway workload selector.', {
                kind: 'string-map',
                type: 'map string → string',
              }),
              servers: objectList(istioServer, 'Istio Gateway servers: {port: {number, name, protocol (default TCP)}, hosts (default ["*"]), tls}.'),
            })
            .prefault({}),
          virtual_service: z
            .object({
              tcp_routes: objectList(istioTcpRoute, 'Istio TCP routes: {name, port, destination: {host, port}}.'),
              tls_routes: objectList(istioTlsRoute, 'Istio TLS routes: {name, port, sni_hosts (or sniHosts), destination: {host, port}}.'),
            })
            .prefault({}),
        })
        .prefault({}),
      gateway_api: z
        .object({
          enabled: bool(false, 'Keep a Gateway API Gateway with TCPRoutes/UDPRoutes.'),
          gateway_class: str('istio', 'GatewayClass of the Gateway.'),
          listeners: objectList(gwListener, 'Gateway listeners: {name (default `<proto>-<port>`), port, protocol (TCP or UDP, default TCP)}.'),
          tcp_routes: objectList(gwRoute, 'TCPRoutes: {name, section_name (or sectionName): a TCP listener, backend_refs (or backendRefs): [{name, namespace, port}]}.'),
          udp_routes: objectList(gwRoute, 'UDPRoutes: {name, section_name (or sectionName): a UDP listener, backend_refs (or backendRefs): [{name, namespace, port}]}.'),
        })
        .prefault({}),
    })
    .superRefine((g, ctx) => {
      const issue = (path: (string | number)[], message: string, sourceKey?: string) =>
        ctx.addIssue({ code: 'custom', path, message, ...(sourceKey ? { params: { sourceKey } } : {}) });
      if (!DNS_LABEL.test(g.release_name)) issue(['release_name'], 'must be a lower-case RFC 1123 label: it names the Gateway');
      if (!DNS_LABEL.test(g.namespace)) issue(['namespace'], 'must be a Kubernetes namespace name');
      if (!g.enabled) return;
      const mode = g.environment.mode;
      if (mode !== '' && mode !== 'managed' && mode !== 'single-vm') issue(['environment', 'mode'], `expected managed or single-vm (or empty to detect), got ${JSON.stringify(mode)}`);
      if (g.environment.vm_ip !== '' && !IPV4.test(g.environment.vm_ip)) issue(['environment', 'vm_ip'], `expected an IPv4 address, got ${JSON.stringify(g.environment.vm_ip)}`);
      const api = g.gateway_api;
      if (api.enabled) {
        if (api.listeners.length === 0) issue(['gateway_api', 'listeners'], 'at least one listener is required when gateway.gateway_api.enabled is true', 'gateway.gateway_api.enabled');
        if (!DNS_SUBDOMAIN.test(api.gateway_class)) issue(['gateway_api', 'gateway_class'], 'must be a GatewayClass name');
        const byName = new Map<string, string>();
        const ports = new Set<string>();
        api.listeners.forEach((l, i) => {
          if (l.protocol !== 'TCP' && l.protocol !== 'UDP') issue(['gateway_api', 'listeners', i, 'protocol'], `expected TCP or UDP, got ${JSON.stringify(l.protocol)}`);
          if (byName.has(l.name)) issue(['gateway_api', 'listeners', i, 'name'], `listener name ${JSON.stringify(l.name)} is used twice`);
          if (ports.has(`${l.protocol}/${l.port}`)) issue(['gateway_api', 'listeners', i, 'port'], `${l.protocol} port ${l.port} is used by two listeners`);
          byName.set(l.name, l.protocol);
          ports.add(`${l.protocol}/${l.port}`);
        });
        for (const [key, proto] of [['tcp_routes', 'TCP'], ['udp_routes', 'UDP']] as const) {
          const names = new Set<string>();
          api[key].forEach((r, i) => {
            if (names.has(r.name)) issue(['gateway_api', key, i, 'name'], `route name ${JSON.stringify(r.name)} is used twice`);
            names.add(r.name);
            const p = byName.get(r.section_name);
            if (r.section_name === '') issue(['gateway_api', key, i, 'section_name'], `section_name is required: the ${proto} listener the route attaches to`);
            else if (p === undefined) issue(['gateway_api', key, i, 'section_name'], `no listener named ${JSON.stringify(r.section_name)}`);
            else if (p !== proto) issue(['gateway_api', key, i, 'section_name'], `listener ${JSON.stringify(r.section_name)} is ${p}; a ${key === 'tcp_routes' ? 'TCPRoute' : 'UDPRoute'} needs a ${proto} listener`);
            if (r.backend_refs.length === 0) issue(['gateway_api', key, i, 'backend_refs'], 'at least one backend_ref is required');
          });
        }
      }
      const istio = g.istio;
      if (istio.enabled) {
        if (istio.gateway.servers.length === 0) issue(['istio', 'gateway', 'servers'], 'at least one server is required when gateway.istio.enabled is true', 'gateway.istio.enabled');
        const names = new Set<string>();
        istio.virtual_service.tcp_routes.forEach((r, i) => {
          if (names.has(r.name)) issue(['istio', 'virtual_service', 'tcp_routes', i, 'name'], `route name ${JSON.stringify(r.name)} is used twice`);
          names.add(r.name);
        });
        istio.virtual_service.tls_routes.forEach((r, i) => {
          if (r.sni_hosts.length === 0) issue(['istio', 'virtual_service', 'tls_routes', i, 'sni_hosts'], 'TLS routes require sni_hosts (sniHosts)');
          if (names.has(r.name)) issue(['istio', 'virtual_service', 'tls_routes', i, 'name'], `route name ${JSON.stringify(r.name)} is used twice`);
          names.add(r.name);
        });
      }
    })
    .prefault({});
}

export type GatewayConfig = z.infer<ReturnType<typeof gatewaySchema>>;
