// zod compiles a fast path for each object schema with `new Function` the first time it parses with it (its "JIT").
// Our schemas are parsed a handful of times (the configuration, the state file, control messages; the relay's hot
// path checks its messages by hand, src/protocol/envelope.ts), so that generated code only costs memory: its source,
// its bytecode and the optimising compiles it sets off at start-up. zod reads this setting when a schema is created,
// so every entrypoint (src/cli.ts, workers/*.ts) imports this module before any module that builds a schema.
import { config } from 'zod';

config({ jitless: true });
