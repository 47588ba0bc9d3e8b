// Preload for `bun test` (bunfig.toml) and for dev-mode workers: installs the client-node undici shim.
import { plugin } from 'bun';
import { undiciShim } from './undici-plugin.ts';

plugin(undiciShim);
