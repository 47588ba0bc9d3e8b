// Which direct endpoints the hub may reach (routes/endpoint-policy.ts).
import { describe, expect, test } from 'bun:test';
import { EndpointPolicy, parseCidr } from '../../src/hub/routes/endpoint-policy.ts';

describe('EndpointPolicy', () => {
  const p = new EndpointPolicy(['10.20.0.0/16', 'fd00:1::/32', '127.0.0.0/8'], ['192.0.2.10']);
  p.listeners.push({ host: '0.0.0.0', port: 8090 }, { host: '127.0.0.1', port: 6443 });

  test.each([
    ['93.184.216.34', 80, null],
    ['10.20.3.4', 80, null],
    ['127.0.0.5', 8080, null],
    ['[fd00:1::5]'.slice(1, -1), 80, null],
    ['10.21.0.1', 80, /private address, not in direct_allowed_cidrs/],
    ['169.254.169.254', 80, /link-local/],
    ['0.0.0.0', 80, /unspecified/],
    ['::', 80, /unspecified/],
    ['239.1.1.1', 80, /multicast/],
    ['ff02::1', 80, /multicast/],
    ['255.255.255.255', 80, /broadcast/],
    ['127.0.0.1', 8090, /hub's own listeners/],
    ['192.0.2.10', 8090, /hub's own listeners/],
    ['127.0.0.1', 6443, /hub's own listeners/],
    ['::ffff:169.254.1.1', 80, /169\.254\.1\.1 is a link-local address/],
    ['fe80::1', 80, /link-local/],
    ['100.64.1.1', 80, /carrier-grade NAT/],
    ['not-an-ip', 80, /not an IP address/],
  ])('%s:%d', (ip, port, want) => {
    const why = p.check(ip, port);
    if (want === null) expect(why).toBeNull();
    else expect(why).toMatch(want);
  });

  test('CIDRs are validated', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'example.com/8', '::/129']) expect(parseCidr(bad)).toBeNull();
    expect(() => new EndpointPolicy(['nope'])).toThrow(/not a CIDR/);
  });
});
