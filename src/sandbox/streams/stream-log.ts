// The one logger of the pod-stream engine: protocol errors and refused upgrades, one line each.
import { createLogger } from '../../log/logger.ts';

export const streamLog = createLogger({
  name: 'sandbox-streams',
  level: (process.env.SANDBOX_STREAMS_LOG_LEVEL as 'debug' | 'info' | 'warn' | undefined) ?? 'warn',
});
