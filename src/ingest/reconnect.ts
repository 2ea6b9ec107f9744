/**
 * Reconnect policy for live sources: exponential backoff with jitter, capped, with a limit on
 * consecutive failed attempts. Pure: the random source is injected, so schedules are testable.
 *
 * Example (defaults): retry 1 waits 0.8-1 s, retry 2 1.6-2 s, 3 3.2-4 s, ... capped at 30 s.
 *   const backoff = createBackoff({ maxRetries: 5 });
 *   const wait = backoff.next();   // ms to wait before the next attempt, or null: give up
 *   backoff.reset();               // after an attempt that delivered media
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffPolicy {
  /** Wait before the first retry, ms (default 1000). */
  initialMs: number;
  /** Longest wait, ms (default 30000). */
  maxMs: number;
  /** Growth per retry (default 2). */
  factor: number;
  /** Fraction of the wait taken off at random, 0..1 (default 0.2), so clients don't retry in step. */
  jitter: number;
  /** Consecutive retries before giving up; Infinity = never give up, 0 = no retries. */
  maxRetries: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2, maxRetries: Infinity };

/** Fills in defaults and checks the values. */
export function backoffPolicy(p: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const policy = { ...DEFAULT_BACKOFF, ...p };
  const bad = (name: string, value: number, rule: string) => new RangeError(`reconnect ${name} must be ${rule}, got ${value}`);
  if (!(policy.initialMs >= 0) || !Number.isFinite(policy.initialMs)) throw bad('initialMs', policy.initialMs, 'a finite number >= 0');
  if (!(policy.maxMs >= policy.initialMs) || !Number.isFinite(policy.maxMs)) throw bad('maxMs', policy.maxMs, `finite and >= initialMs (${policy.initialMs})`);
  if (!(policy.factor >= 1)) throw bad('factor', policy.factor, '>= 1');
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw bad('jitter', policy.jitter, 'in [0, 1]');
  if (!(policy.maxRetries >= 0) || (Number.isFinite(policy.maxRetries) && !Number.isInteger(policy.maxRetries))) {
    throw bad('maxRetries', policy.maxRetries, 'a whole number >= 0 or Infinity');
  }
  return policy;
}

/** Wait before retry number `retry` (1-based), ms: min(max, initial * factor^(retry-1)), less up to `jitter` of it. */
export function backoffDelay(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, retry - 1));
  return Math.round(base * (1 - policy.jitter * random()));
}

export interface Backoff {
  /** Ms to wait before the next retry, or null when `maxRetries` consecutive retries were used. */
  next(): number | null;
  /** Forget earlier failures (the source delivered again). */
  reset(): void;
  /** Retries used since the last reset. */
  readonly retries: number;
}

export function createBackoff(p: Partial<BackoffPolicy> = {}, random: () => number = Math.random): Backoff {
  const policy = backoffPolicy(p);
  let retries = 0;
  return {
    next() {
      if (retries >= policy.maxRetries) return null;
      retries += 1;
      return backoffDelay(retries, policy, random);
    },
    reset() {
      retries = 0;
    },
    get retries() {
      return retries;
    },
  };
}

/** Waits `ms`; resolves early (false) when the signal aborts, true after the full wait. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  if (ms <= 0) return true;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
