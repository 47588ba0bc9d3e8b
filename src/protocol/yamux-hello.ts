// Our additions to `gateway_hello` / `gateway_hello_ack` (protocol.md §5.1). The gateway asks, the agent's ack
// repeats what it accepted; an upstream gateway asks nothing and gets upstream behaviour (raw yamux, raw UDP).
//
// gateway → agent `gateway_hello` payload, beside upstream's `use_yamux` and `yamux_config`:
//  - `pipeops_yamux_framing: "tagged"`: yamux bytes travel in binary messages that start with two zero bytes, so
//    the HTTP proxy's binary frames (`[u16 id length ≥ 1][id]…`) keep working on the same socket. Untagged
//    (upstream): every binary message is yamux input and the agent sends no binary HTTP frames.
//  - `pipeops_udp_datagrams: "length_prefixed"`: UDP streams carry `[u16 length][datagram]` both ways, so
//    datagram boundaries survive (deviation T2). Otherwise upstream's raw mode.
// agent → gateway `gateway_hello_ack`: `{"use_yamux": true}` plus each of the two keys it accepted, same value.

export const HELLO_FRAMING_KEY = 'pipeops_yamux_framing';
export const HELLO_UDP_KEY = 'pipeops_udp_datagrams';
export const TAGGED_FRAMING = 'tagged';
export const LENGTH_PREFIXED_DATAGRAMS = 'length_prefixed';
/** The tag in front of every yamux binary message in tagged framing. */
export const YAMUX_TAG_BYTES = 2;
