// Secret values scrubbed from every log line before it leaves the process (every logger's lines pass through here).
export const REDACTED = '[REDACTED]';

/**
 * Known secret values (tokens, passwords) registered at startup. Every log line is scrubbed of them, so a
 * token can never leak through an error message or a stringified header map, whatever field it hides in.
 */
export class SecretScrubber {
  #secrets: string[] = [];

  add(secret: string | undefined | null): void {
    if (!secret || secret.length < 6 || this.#secrets.includes(secret)) return;
    this.#secrets.push(secret);
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    // Bearer tokens we were never told about (e.g. a user's token relayed through the hub).
    return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${REDACTED}`);
  }
}

export const secrets = new SecretScrubber();
