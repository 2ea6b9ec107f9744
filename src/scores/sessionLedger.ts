/**
 * What became of each session, for the line said when it ends: how many windows, how many scored,
 * the last rolling score, and, for a session that got no score, why, in words a person can act on.
 * Pure: the pipeline feeds it windows, scores and unscored reasons; `end` returns the summary.
 */
import type { Modalities, Score } from '../schemas/records.js';

/** `failed`: building its model input threw; its records were dead-lettered PROCESSING_FAILED. */
export type UnscoredReason = 'empty' | 'no-usable-input' | 'late' | 'duplicate' | 'invalid' | 'failed';

/** What the service knows of the session's speech (`asr.mode`, and what the speech stage did). */
export interface SpeechFacts {
  /** The speech stage runs (`asr.mode` auto or always). */
  on: boolean;
  /** The stage left this session to a transcript made elsewhere (auto mode). */
  leftToOther: boolean;
}

export interface SessionSummary {
  sessionId: string;
  windows: number;
  scores: number;
  unscored: Partial<Record<UnscoredReason, number>>;
  /** Windows that held each modality. */
  present: Record<keyof Modalities, number>;
  /** Windows whose words came from msa's recogniser. */
  machineText: number;
  /** The last rolling score, its polarity. */
  last: { score: number; polarity: Score['polarity'] } | null;
  /** Why no score came out; null when one did. */
  why: string | null;
}

interface Entry {
  windows: number;
  scores: number;
  unscored: Partial<Record<UnscoredReason, number>>;
  present: Record<keyof Modalities, number>;
  machineText: number;
  last: SessionSummary['last'];
}

export interface SessionLedger {
  window(sessionId: string, present: Modalities, machineText: boolean): void;
  scored(score: Score): void;
  unscored(sessionId: string, reason: UnscoredReason): void;
  /** The summary of an ended session, forgotten after. */
  end(sessionId: string, speech: SpeechFacts): SessionSummary;
  readonly size: number;
}

/** Sessions followed at once; beyond it the oldest is forgotten (its summary then says less). */
export const MAX_LEDGER_SESSIONS = 100_000;

/** What the model reads (text always; voice and face with codebooks). */
export function createSessionLedger(reads: Modalities, maxSessions = MAX_LEDGER_SESSIONS): SessionLedger {
  const entries = new Map<string, Entry>();
  const entry = (id: string): Entry => {
    let e = entries.get(id);
    if (!e) {
      e = { windows: 0, scores: 0, unscored: {}, present: { text: 0, audio: 0, video: 0 }, machineText: 0, last: null };
      entries.set(id, e);
      if (entries.size > maxSessions) entries.delete(entries.keys().next().value as string);
    }
    return e;
  };
  return {
    window(sessionId, present, machineText) {
      const e = entry(sessionId);
      e.windows++;
      for (const m of ['text', 'audio', 'video'] as const) if (present[m]) e.present[m]++;
      if (machineText) e.machineText++;
    },
    scored(score) {
      const e = entry(score.sessionId);
      e.scores++;
      e.last = { score: score.score, polarity: score.polarity };
    },
    unscored(sessionId, reason) {
      const e = entry(sessionId);
      e.unscored[reason] = (e.unscored[reason] ?? 0) + 1;
    },
    end(sessionId, speech) {
      const e = entries.get(sessionId) ?? entry(sessionId);
      entries.delete(sessionId);
      return { sessionId, ...e, why: e.scores > 0 ? null : whyNoScore(e, reads, speech) };
    },
    get size() {
      return entries.size;
    },
  };
}

const list = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);
const NAMES: Record<keyof Modalities, string> = { text: 'words', audio: 'voice', video: 'face' };

function whyNoScore(e: Entry, reads: Modalities, speech: SpeechFacts): string {
  if (e.windows === 0) return 'none of its records reached a window (see the late and dead-letter topics)';
  const present = (['text', 'audio', 'video'] as const).filter((m) => e.present[m] > 0);
  const readable = present.filter((m) => reads[m]);
  const readsWhat = list((['text', 'audio', 'video'] as const).filter((m) => reads[m]).map((m) => NAMES[m]));
  const sent: Record<keyof Modalities, string> = { text: 'words', audio: 'audio', video: 'video' };
  const had = present.length > 0 ? `it sent ${list(present.map((m) => sent[m]))}` : 'its windows were empty';
  if (readable.length === 0) {
    if (e.present.audio > 0 && !e.present.text) {
      if (!speech.on) return `${had} but no transcript, and speech recognition is off (asr.mode off); the model reads ${readsWhat} only`;
      if (speech.leftToOther) return `${had}; it was left to a transcript from elsewhere (asr.mode auto), which brought no words into its windows`;
      return `${had} but no transcript, and no speech was heard in its audio (silence, noise, or speech shorter than asr.vad.minSpeechMs); the model reads ${readsWhat} only`;
    }
    return `${had}; the model reads ${readsWhat} only`;
  }
  const counts = Object.entries(e.unscored)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  return `its ${e.windows} windows were not scored (${counts || 'none left the model'}); the model reads ${readsWhat}`;
}

/** One line for a person: the session's outcome. */
export function formatSummary(s: SessionSummary): string {
  if (s.why !== null) return `${s.sessionId} ended: no score: ${s.why}`;
  const last = s.last ? `, last ${s.last.score >= 0 ? '+' : ''}${s.last.score.toFixed(2)} ${s.last.polarity}` : '';
  const heard = s.machineText > 0 ? `, words heard by msa in ${s.machineText} windows` : '';
  return `${s.sessionId} ended: ${s.scores} scores of ${s.windows} windows${last}${heard}`;
}
