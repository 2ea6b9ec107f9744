/**
 * `ws.authTokens`: who may read which sessions over WebSocket (README "WebSocket"). An entry is a
 * bare token string (sees every session) or `{token, name, sessionPrefixes, maxConnections,
 * maxSubscribeAll}`.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A WebSocket token as configured: a bare string is a token that sees every session. */
const tokenSchema = z
  .object({
    token: z.string().min(8),
    name: z.string().min(1).max(64),
    sessionPrefixes: z.union([z.literal('*'), z.array(z.string().min(1, "a prefix must not be empty (use '*' for every session)").max(256)).min(1).max(64)]),
    maxConnections: positiveInt.optional(),
    maxSubscribeAll: positiveInt.optional(),
  })
  .strict();

const tokenEntry = (e: unknown, i: number): unknown =>
  typeof e === 'string'
    ? { token: e, name: `token-${i + 1}`, sessionPrefixes: '*' }
    : isPlainObject(e) && e.name === undefined
      ? { ...e, name: `token-${i + 1}` }
      : e;

/** Two entries with one token would make the scope depend on the order; names say who in metrics. */
function distinctTokens(tokens: Array<z.infer<typeof tokenSchema>>, ctx: z.RefinementCtx): void {
  tokens.forEach((t, i) => {
    const j = tokens.findIndex((u) => u.token === t.token);
    if (j < i)
      ctx.addIssue({
        code: 'custom',
        path: [i, 'token'],
        message: `the same token as ws.authTokens.${j} (${JSON.stringify(tokens[j]!.name)}); tokens must differ`,
      });
    const k = tokens.findIndex((u) => u.name === t.name);
    if (k < i) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `the name is also ws.authTokens.${k}'s; names must be unique` });
  });
}

/** The token list, bare strings given a name by their place. */
export const authTokensSchema = z.preprocess(
  (v) => (Array.isArray(v) ? v.map((e, i) => tokenEntry(e, i)) : v),
  z.array(tokenSchema).superRefine(distinctTokens),
);
