// Kubernetes `Status` bodies for the gateway's own errors, so kubectl prints them like an API server's
// ("error: You must be logged in to the server (Unauthorized)", "Error from server (NotFound): …"). Pure.

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  413: 'RequestEntityTooLarge',
  500: 'InternalError',
  501: 'NotImplemented',
  502: 'BadGateway',
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

export function kubeStatus(code: number, message: string): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'InternalError', code };
}

export function kubeStatusBody(code: number, message: string): string {
  return JSON.stringify(kubeStatus(code, message));
}
