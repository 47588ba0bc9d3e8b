// Kubernetes `Status` bodies for the gateway's own errors, so kubectl prints them like an API server's
// ("error: You must be logged in to the server (Unauthorized)", "Error from server (NotFound): …"). Pure.
//
// Only reasons client-go knows (metav1.StatusReason*) are used. How kubectl shows an error depends on the
// code and the body (measured with kubectl 1.27–1.33, test/hub/kubectl-errors.test.ts):
// - a Status body is decoded for API calls (`get pods` with discovery cached, `get --raw`), so kubectl prints
//   "Error from server (<reason>): <our message>";
// - discovery (`/api`, `/apis`, every fresh kubectl run) never decodes a body: 400/503/504 print client-go's
//   fixed sentence for the code, and any other 5xx prints `an error on the server ("<body>")` — the body only
//   when it is text/*, else "unknown". So 502 (the agent could not complete the request) is sent as text/plain:
//   kubectl then prints the agent's reason in discovery and in API calls alike.

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  // The request timeout (http-front.ts, answered by kube-gateway.ts): a body not received in time. client-go has no
  // reason of its own for 408.
  408: 'Timeout',
  413: 'RequestEntityTooLarge',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
}

/** A Status; codes without a Kubernetes reason (501, 502) get InternalError, as client-go itself classifies them. */
export function kubeStatus(code: number, message: string): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'InternalError', code };
}

export function kubeStatusBody(code: number, message: string): string {
  return JSON.stringify(kubeStatus(code, message));
}

/** The body of a gateway error: a Status JSON, except 502 as one line of text (see the file comment). */
export function kubeErrorBody(code: number, message: string): { contentType: string; body: string } {
  if (code === 502) return { contentType: 'text/plain; charset=utf-8', body: `${message}\n` };
  return { contentType: 'application/json', body: kubeStatusBody(code, message) };
}

/**
 * The status for an agent's `proxy_error` (protocol.md §3.4, §4.1): both agents say "kubernetes client not
 * initialized" when they have no Kubernetes API and "invalid path…" for a path they refuse.
 */
export function agentErrorStatus(error: string): 400 | 502 | 503 {
  if (/^kubernetes client not initiali[sz]ed/i.test(error)) return 503;
  if (/^invalid path\b/i.test(error)) return 400;
  return 502;
}
