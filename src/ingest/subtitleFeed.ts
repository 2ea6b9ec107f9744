/**
 * Subtitle cues of recorded media as an ASR would send them: each cue becomes a final
 * TranscriptSegment once media time reaches its end; the last one says endOfStream.
 */
import type { TranscriptSegment } from '../schemas/records.js';
import { byEndTime, cueToSegment, type Cue } from './subtitles.js';

export class SubtitleFeed {
  private readonly cues: readonly Cue[];
  private next = 0;
  /** The last segment given said endOfStream. */
  ended = false;

  constructor(
    cues: readonly Cue[],
    private readonly segment: { sessionId: string; startTime: number; speaker: string | null; language: string | null },
  ) {
    this.cues = byEndTime(cues);
  }

  /** Segments due by session time `upTo` (ms); at the end (`last`), every cue that starts before it. */
  due(upTo: number, last: boolean): TranscriptSegment[] {
    const due: Cue[] = [];
    const cues = this.cues;
    while (this.next < cues.length && (cues[this.next]!.endMs <= upTo || (last && cues[this.next]!.startMs < upTo))) due.push(cues[this.next++]!);
    return due.map((cue, i) => {
      const segment = cueToSegment(cue, this.segment);
      segment.endOfStream = i === due.length - 1 && (last || this.next === cues.length);
      this.ended ||= segment.endOfStream;
      return segment;
    });
  }

  /** Cues never given (they start after the media ended). */
  get left(): number {
    return this.cues.length - this.next;
  }
}
