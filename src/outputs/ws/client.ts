/**
 * One connected WebSocket client, and sending to it with a bound: a client with more than
 * `maxBufferedBytes` waiting in its socket, or more than `maxBufferedMessages` sends not yet
 * handed to the OS, is sent nothing more and closed (1013, "slow consumer").
 */
import { WebSocket } from 'ws';
import type { ScoreFilter } from './protocol.js';

export interface Client {
  readonly id: number;
  readonly ws: WebSocket;
  readonly remote: string;
  authenticated: boolean;
  /** Set once the server decided to close it: nothing more is sent. */
  closing: boolean;
  alive: boolean;
  all: boolean;
  readonly sessions: Set<string>;
  readonly filters: Map<string, ScoreFilter>;
  /** Sends handed to ws whose write callback has not run yet. */
  pending: number;
  timer: NodeJS.Timeout | undefined;
}

export interface SendCounters {
  messagesSent: number;
  bytesSent: number;
  slowClientCloses: number;
}

export interface BoundedSender {
  /** Sends one frame unless the client is closing or over its bound (then `onSlow` closes it); true if sent. */
  send(client: Client, frame: string): boolean;
  sendJson(client: Client, message: object): boolean;
}

export function createBoundedSender(
  limits: { maxBufferedBytes: number; maxBufferedMessages: number },
  counters: SendCounters,
  onSlow: (client: Client, why: string) => void,
): BoundedSender {
  const send = (client: Client, frame: string): boolean => {
    if (client.closing || client.ws.readyState !== WebSocket.OPEN) return false;
    const buffered = client.ws.bufferedAmount;
    if (buffered > limits.maxBufferedBytes || client.pending >= limits.maxBufferedMessages) {
      counters.slowClientCloses++;
      onSlow(
        client,
        buffered > limits.maxBufferedBytes
          ? `${buffered} bytes buffered (limit ${limits.maxBufferedBytes})`
          : `${client.pending} messages buffered (limit ${limits.maxBufferedMessages})`,
      );
      return false;
    }
    client.pending++;
    client.ws.send(frame, () => {
      client.pending--;
    });
    counters.messagesSent++;
    counters.bytesSent += Buffer.byteLength(frame);
    return true;
  };
  return { send, sendJson: (client, message) => send(client, JSON.stringify(message)) };
}
