// The part of the `ws` package (8.x, untyped here) that the Deno adapter uses: the client only.
declare module 'ws' {
  import type { EventEmitter } from 'node:events';

  interface ClientOptions {
    headers?: Record<string, string>;
    perMessageDeflate?: boolean;
    ca?: string;
    cert?: string;
    key?: string;
    rejectUnauthorized?: boolean;
    servername?: string;
    handshakeTimeout?: number;
  }

  class WebSocket extends EventEmitter {
    constructor(url: string, protocols?: string[], options?: ClientOptions);
    binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments';
    readonly readyState: number;
    readonly protocol: string;
    readonly bufferedAmount: number;
    send(data: string | ArrayBufferView | ArrayBuffer, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
    ping(data?: Uint8Array | string): void;
    pong(data?: Uint8Array | string): void;
    addEventListener(type: string, listener: (ev: never) => void, options?: { once?: boolean }): void;
    removeEventListener(type: string, listener: (ev: never) => void): void;
  }
  export default WebSocket;
}
