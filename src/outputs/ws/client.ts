/**
 * One connected WebSocket client, and sending to it with a bound: a client with more than
 * `maxBufferedBytes` waiting in its socket, or more than `maxBufferedMessages` sends not yet
 * handed to the OS (queued behind its history included), is sent nothing more and closed
 * (1013, "slow consumer").
 *
 * History is a stream of frames made as they go out, a slice of about `historySliceBytes` at a
 * time, one slice per event-loop turn over all clients in turn: a burst of subscriptions costs
 * the server many short turns, never one long one (other clients, `/healthz`, the pipeline are
 * served between slices). What is sent to a client while its history is going out waits behind
 * it, in order, so history and live messages neither overlap nor leave a gap.
 */
import { WebSocket } from 'ws';
import type { Principal } from './auth.js';
import type { ScoreFilter } from './protocol.js';

/** A frame, or a stream of frames made one at a time as the pump sends them (history). */
export type Outgoing = string | Iterator<string>;

export interface Client {
  readonly id: number;
  readonly ws: WebSocket;
  readonly remote: string;
  /** Who it authenticated as (`anonymous` when authentication is off); null until then. */
  principal: Principal | null;
  /** Set once the server decided to close it: nothing more is sent. */
  closing: boolean;
  alive: boolean;
  all: boolean;
  readonly sessions: Set<string>;
  readonly filters: Map<string, ScoreFilter>;
  /** Sends handed to ws whose write callback has not run yet. */
  pending: number;
  /** What waits behind a history stream still going out (the stream first). */
  readonly outbox: Outgoing[];
  timer: NodeJS.Timeout | undefined;
}

export interface SendCounters {
  messagesSent: number;
  bytesSent: number;
  slowClientCloses: number;
  /** History slices sent (each one event-loop turn). */
  historySlices: number;
}

export interface BoundedSender {
  /** Sends one frame (or queues it behind the client's history) unless the client is closing or over its bound (then `onSlow` closes it); true if accepted. */
  send(client: Client, frame: string): boolean;
  sendJson(client: Client, message: object): boolean;
  /** Queues a stream of frames (history), sent a slice per event-loop turn; what is sent after waits behind it. */
  sendStream(client: Client, frames: Iterator<string>): boolean;
  /** Clients with something queued. */
  readonly queued: number;
}

export function createBoundedSender(
  limits: { maxBufferedBytes: number; maxBufferedMessages: number; historySliceBytes: number },
  counters: SendCounters,
  onSlow: (client: Client, why: string) => void,
): BoundedSender {
  const slow = (client: Client, why: string): false => {
    counters.slowClientCloses++;
    client.outbox.length = 0;
    onSlow(client, why);
    return false;
  };

  /** Hands one frame to ws; its bytes, or -1 when not sent. */
  const write = (client: Client, frame: string): number => {
    if (client.closing || client.ws.readyState !== WebSocket.OPEN) return -1;
    const buffered = client.ws.bufferedAmount;
    if (buffered > limits.maxBufferedBytes) return (slow(client, `${buffered} bytes buffered (limit ${limits.maxBufferedBytes})`), -1);
    if (client.pending >= limits.maxBufferedMessages) return (slow(client, `${client.pending} messages buffered (limit ${limits.maxBufferedMessages})`), -1);
    client.pending++;
    client.ws.send(frame, () => {
      client.pending--;
    });
    const bytes = Buffer.byteLength(frame);
    counters.messagesSent++;
    counters.bytesSent += bytes;
    return bytes;
  };

  // Round robin over the clients with a queue; one slice per turn.
  const waiting: Client[] = [];
  const inLine = new Set<Client>();
  let scheduled = false;
  let stalledTurns = 0;

  const enqueue = (client: Client): void => {
    if (inLine.has(client)) return;
    inLine.add(client);
    waiting.push(client);
    schedule(false);
  };

  const schedule = (stalled: boolean): void => {
    if (scheduled || waiting.length === 0) return;
    scheduled = true;
    // When every queued client's socket is still full, wait a little for them to drain instead of spinning.
    if (stalled) setTimeout(turn, 5).unref();
    else setImmediate(turn);
  };

  const turn = (): void => {
    scheduled = false;
    const client = waiting.shift();
    if (client === undefined) return;
    inLine.delete(client);
    let progressed = true;
    if (client.closing || client.ws.readyState !== WebSocket.OPEN) {
      client.outbox.length = 0;
    } else if (client.ws.bufferedAmount > limits.historySliceBytes) {
      progressed = false; // its socket has not taken the last slice yet: others first
    } else {
      sendSlice(client);
    }
    if (client.outbox.length > 0 && !client.closing) {
      inLine.add(client);
      waiting.push(client);
    }
    stalledTurns = progressed ? 0 : stalledTurns + 1;
    schedule(stalledTurns >= waiting.length);
    if (stalledTurns >= waiting.length) stalledTurns = 0;
  };

  const sendSlice = (client: Client): void => {
    let bytes = 0;
    counters.historySlices++;
    while (bytes < limits.historySliceBytes && client.outbox.length > 0) {
      const head = client.outbox[0]!;
      let frame: string;
      if (typeof head === 'string') {
        client.outbox.shift();
        frame = head;
      } else {
        const next = head.next();
        if (next.done === true) {
          client.outbox.shift();
          continue;
        }
        frame = next.value;
      }
      const sent = write(client, frame);
      if (sent < 0) return;
      bytes += sent;
    }
  };

  const send = (client: Client, frame: string): boolean => {
    if (client.closing || client.ws.readyState !== WebSocket.OPEN) return false;
    if (client.outbox.length === 0) return write(client, frame) >= 0;
    if (client.outbox.length + client.pending >= limits.maxBufferedMessages) {
      return slow(client, `${client.outbox.length + client.pending} messages buffered (limit ${limits.maxBufferedMessages})`);
    }
    client.outbox.push(frame);
    return true;
  };

  return {
    send,
    sendJson: (client, message) => send(client, JSON.stringify(message)),
    sendStream(client, frames) {
      if (client.closing || client.ws.readyState !== WebSocket.OPEN) return false;
      client.outbox.push(frames);
      enqueue(client);
      return true;
    },
    get queued() {
      return waiting.length;
    },
  };
}
