/**
 * Bearer-token authentication of WebSocket clients (and of `/metrics`): tokens compared as
 * SHA-256 digests in constant time, over every configured token (no early exit), so timing says
 * nothing about them. A token stands for a principal: a name (for logs and metrics, never the
 * token itself), the sessions it may see (scope.ts), and its limits on connections and on
 * subscriptions to everything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { DEFAULTS } from '../../config/config.js';
import { SEES_ALL, sessionScope, type SessionScope } from './scope.js';

const digest = (token: string) => createHash('sha256').update(token).digest();

/** One configured token: a bare string sees every session (the flat list of before). */
export type TokenEntry =
  | string
  | {
      token: string;
      /** For logs and metrics; default `token-<position in the list, from 1>`. */
      name?: string | undefined;
      /** '*': every session; otherwise the session-id prefixes this token sees. */
      sessionPrefixes: readonly string[] | '*';
      /** Connections at once with this token; default the server's maxConnectionsPerToken. */
      maxConnections?: number | undefined;
      /** `all` and filter subscriptions at once over its connections; default maxSubscribeAllPerToken. */
      maxSubscribeAll?: number | undefined;
    };

/** Who a client is: what it may see and how much it may hold. */
export interface Principal {
  readonly name: string;
  readonly scope: SessionScope;
  readonly maxConnections: number;
  readonly maxSubscribeAll: number;
}

export interface PrincipalLimits {
  maxConnectionsPerToken: number;
  maxSubscribeAllPerToken: number;
}

export interface TokenCheck {
  /** False when no tokens are configured (authentication off): every client is `anonymous`. */
  readonly required: boolean;
  /** One per configured token, in order; just `anonymous` when authentication is off. */
  readonly principals: readonly Principal[];
  /** The principal of unauthenticated clients when authentication is off: sees all. */
  readonly anonymous: Principal;
  /** The token's principal, or null when it is not one of the configured tokens. */
  principalOf(token: string): Principal | null;
}

const positiveInt = (what: string, v: number) => {
  if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${what} must be an integer >= 1, got ${v}`);
  return v;
};

/**
 * Throws a RangeError naming the bad entry (by name or position, never by its token) for an empty
 * token, bad prefixes or limits, a name or a token given twice; null or [] turns authentication off.
 */
export function createTokenCheck(entries: readonly TokenEntry[] | null, limits: PrincipalLimits = DEFAULTS.ws): TokenCheck {
  const list = entries ?? [];
  const principals: Principal[] = [];
  const digests: Buffer[] = [];
  list.forEach((entry, i) => {
    const spec = typeof entry === 'string' ? { token: entry, sessionPrefixes: '*' as const } : entry;
    const name = spec.name ?? `token-${i + 1}`;
    const where = `authTokens[${i}] (${JSON.stringify(name)})`;
    if (typeof spec.token !== 'string' || spec.token.length === 0) {
      throw new RangeError(`${where}: the token must be a non-empty string (use null to disable authentication)`);
    }
    const d = digest(spec.token);
    const twin = digests.findIndex((t) => t.equals(d));
    if (twin >= 0) throw new RangeError(`${where}: the same token as authTokens[${twin}] (${JSON.stringify(principals[twin]!.name)}); tokens must differ`);
    if (principals.some((p) => p.name === name)) throw new RangeError(`${where}: the name is used twice; names must be unique`);
    let scope: SessionScope;
    try {
      scope = sessionScope(spec.sessionPrefixes);
    } catch (e) {
      throw new RangeError(`${where}: ${(e as Error).message}`);
    }
    principals.push({
      name,
      scope,
      maxConnections: positiveInt(`${where}.maxConnections`, spec.maxConnections ?? limits.maxConnectionsPerToken),
      maxSubscribeAll: positiveInt(`${where}.maxSubscribeAll`, spec.maxSubscribeAll ?? limits.maxSubscribeAllPerToken),
    });
    digests.push(d);
  });
  const anonymous: Principal = {
    name: 'anonymous',
    scope: SEES_ALL,
    maxConnections: positiveInt('maxConnectionsPerToken', limits.maxConnectionsPerToken),
    maxSubscribeAll: positiveInt('maxSubscribeAllPerToken', limits.maxSubscribeAllPerToken),
  };
  return {
    required: digests.length > 0,
    principals: digests.length > 0 ? principals : [anonymous],
    anonymous,
    principalOf(token) {
      const d = digest(token);
      let found = -1;
      for (let i = 0; i < digests.length; i++) if (timingSafeEqual(d, digests[i]!)) found = i; // no early exit
      return found < 0 ? null : principals[found]!;
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header, or null when the header is malformed. */
export function bearerToken(header: string): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m === null ? null : m[1]!;
}
