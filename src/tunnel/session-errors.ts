// The two ways a session attempt ends other than a plain close: fatal (stop; a person must act) and "register anew".

/** The session cannot go on (bad token, invalid register_success): reported through SessionHandlers.fatal. */
export class FatalSessionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The control plane told us our cluster is unknown (or the gateway refused our credentials): register anew. */
export class ReregisterSignal extends Error {}
