// What the agent persists between runs (protocol §9.5, deviation S1) and the store interface both backends implement.
import { z } from 'zod';

export const PersistedStateSchema = z.object({
  agent_id: z.string().default(''),
  cluster_id: z.string().default(''),
  /** `cluster_uuid` from register_success; gateway dials use it (falls back to cluster_id when empty, as upstream). */
  cluster_uuid: z.string().default(''),
  gateway_ws_url: z.string().default(''),
  /** Secret: the ServiceAccount token the control plane uses (never logged). */
  cluster_token: z.string().default(''),
  /** base64 of the cluster CA PEM bundle. */
  cluster_cert_data: z.string().default(''),
});

export type PersistedState = z.infer<typeof PersistedStateSchema>;

export const EMPTY_STATE: PersistedState = Object.freeze(PersistedStateSchema.parse({}));

export interface StateStore {
  /** Where the state lives, for logs (a path or namespace/names; never contents). */
  describe(): string;
  load(): Promise<PersistedState>;
  save(s: PersistedState): Promise<void>;
}

/** A state problem an operator must fix (corrupt file, missing RBAC); the message names the file or object. */
export class StateError extends Error {
  override name = 'StateError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
