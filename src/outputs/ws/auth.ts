/**
 * Bearer-token authentication of WebSocket clients: tokens compared as SHA-256 digests in
 * constant time, over every configured token (no early exit), so timing says nothing about them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (token: string) => createHash('sha256').update(token).digest();

export interface TokenCheck {
  /** False when no tokens are configured (authentication off). */
  readonly required: boolean;
  accepts(token: string): boolean;
}

/** Throws a RangeError for an empty token; null or [] turns authentication off. */
export function createTokenCheck(tokens: string[] | null): TokenCheck {
  const list = tokens ?? [];
  if (list.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new RangeError('startScoreServer: authTokens must be non-empty strings (use null to disable authentication)');
  }
  const digests = list.map(digest);
  return {
    required: digests.length > 0,
    accepts(token) {
      const d = digest(token);
      let ok = false;
      for (const t of digests) ok = timingSafeEqual(d, t) || ok; // no early exit
      return ok;
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header, or null when the header is malformed. */
export function bearerToken(header: string): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m === null ? null : m[1]!;
}
