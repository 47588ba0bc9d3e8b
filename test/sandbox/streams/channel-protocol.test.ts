// Channel protocols of exec/attach/port-forward over WebSocket: negotiation in the client's order, binary
// and base64 framing, and the status each protocol version writes on channel 3.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import {
  decodeChannelMessage,
  encodeChannelMessage,
  encodeExitStatus,
  EXEC_PROTOCOLS,
  negotiateSubprotocol,
  parseResize,
} from '../../../src/sandbox/streams/channel-protocol.ts';
import { parsePorts } from '../../../src/sandbox/streams/portforward.ts';

const names = EXEC_PROTOCOLS.map((p) => p.name);

describe('negotiation', () => {
  test('first supported protocol in the client order wins, not the server order', () => {
    expect(negotiateSubprotocol(['v4.channel.k8s.io', 'v5.channel.k8s.io'], names)).toBe('v4.channel.k8s.io');
    expect(negotiateSubprotocol(['bogus', 'base64.channel.k8s.io', 'v5.channel.k8s.io'], names)).toBe('base64.channel.k8s.io');
    expect(negotiateSubprotocol([], names)).toBe('');
    expect(negotiateSubprotocol(['v9.channel.k8s.io'], names)).toBeNull();
  });
});

describe('framing', () => {
  test('binary and base64 variants round-trip every channel and payload', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.uint8Array({ maxLength: 2000 }), (base64, channel, payload) => {
        const m = encodeChannelMessage(base64, channel, payload);
        expect(m.binary).toBe(!base64);
        const d = decodeChannelMessage(base64, m.data, m.binary);
        expect(d?.channel).toBe(channel);
        expect(Buffer.from(d?.payload ?? []).equals(Buffer.from(payload))).toBe(true);
      }),
    );
  });

  test('base64 wire form is an ASCII digit then base64 (observed "1aGkK" = stdout "hi\\n")', () => {
    expect(encodeChannelMessage(true, 1, Buffer.from('hi\n')).data.toString()).toBe('1aGkK');
    expect(encodeChannelMessage(false, 1, Buffer.from('hi\n')).data).toEqual(Buffer.from([1, 0x68, 0x69, 0x0a]));
    expect(() => decodeChannelMessage(true, Buffer.from('xaGkK'), false)).toThrow(/ASCII digit/);
    expect(decodeChannelMessage(false, Buffer.alloc(0), true)).toBeNull();
  });

  test('resize messages with and without the trailing newline', () => {
    expect(parseResize('{"Width":100,"Height":30}\n')).toEqual({ width: 100, height: 30 });
    expect(parseResize('{"Width":"x"}')).toBeNull();
    expect(parseResize('nope')).toBeNull();
  });
});

describe('exit status on channel 3', () => {
  const command = ['sh', '-c', 'exit 7'];
  test('v4/v5: metav1.Status for success and for a non-zero exit with the ExitCode cause', () => {
    expect(JSON.parse(encodeExitStatus(5, { code: 0, command })?.toString() ?? '')).toEqual({ metadata: {}, status: 'Success' });
    expect(JSON.parse(encodeExitStatus(4, { code: 7, command })?.toString() ?? '')).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
  });
  test('v1–v3: plain text, and only on failure', () => {
    expect(encodeExitStatus(3, { code: 0, command })).toBeNull();
    expect(encodeExitStatus(1, { code: 2, command, message: 'boom' })?.toString()).toBe('boom');
  });
});

describe('port-forward ?ports=', () => {
  test('repeated and comma-separated values; missing or bad ports are the kubelet errors', () => {
    expect(parsePorts(new URLSearchParams('ports=80&ports=8080,9090'))).toEqual([80, 8080, 9090]);
    expect(parsePorts(new URLSearchParams(''))).toEqual({ error: 'query parameter "ports" is required' });
    expect(parsePorts(new URLSearchParams('ports=0'))).toEqual({ error: 'unable to parse "0" as a port' });
  });
});
