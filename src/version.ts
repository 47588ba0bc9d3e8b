// Build identity. The build script defines PIPEOPS_BUILD_* at compile time; from source we read package.json.
import pkg from '../package.json' with { type: 'json' };
import { runtime } from '#runtime';
import type { BuildInfo } from './agent/http-types.ts';

declare const PIPEOPS_BUILD_COMMIT: string | undefined;
declare const PIPEOPS_BUILD_DATE: string | undefined;

export const BUILD_INFO: BuildInfo = {
  version: pkg.version,
  commit: typeof PIPEOPS_BUILD_COMMIT === 'string' ? PIPEOPS_BUILD_COMMIT : 'source',
  buildDate: typeof PIPEOPS_BUILD_DATE === 'string' ? PIPEOPS_BUILD_DATE : 'unknown',
  bunVersion: runtime.name === 'bun' ? runtime.version : `none (${runtime.name} ${runtime.version})`,
};
