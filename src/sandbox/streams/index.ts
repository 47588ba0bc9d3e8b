// Entry point of the pod-stream engine: the API server hands over an authenticated, pod-resolved upgrade
// and we own the socket from here (WebSocket or SPDY handshake, protocol, close).
import { handleExecUpgrade } from './exec.ts';
import { handlePortForwardUpgrade } from './portforward.ts';
import { streamLog } from './stream-log.ts';
import type { PodStreamUpgrade } from './types.ts';
import { rejectUpgrade } from '../../kube/upgrade-response.ts';

export { defaultAttachProgram, defaultExecProgram, defaultPortForward, pipeToTcp, upperCaseEcho } from './programs.ts';
export type * from './types.ts';

export function handlePodStreamUpgrade(r: PodStreamUpgrade): void {
  // A socket that dies mid-handshake must not become an unhandled 'error' event.
  r.socket.on('error', (err: Error) => streamLog.debug({ pod: r.podName, err: err.message }, 'pod stream socket error'));
  try {
    if (r.kind === 'portforward') handlePortForwardUpgrade(r);
    else handleExecUpgrade(r);
  } catch (err) {
    streamLog.error({ pod: r.podName, kind: r.kind, err: (err as Error).message }, 'pod stream upgrade failed');
    if (!r.socket.destroyed) rejectUpgrade(r.socket, 500, `internal error: ${(err as Error).message}`, 'InternalError');
    r.onClosed();
  }
}
