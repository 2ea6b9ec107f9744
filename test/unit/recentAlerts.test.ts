/**
 * The recent alerts a client that connects now is sent: the last `limit` transitions, plus the
 * firing events of alerts still firing that are older than those; bounded in both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Alert } from '../../src/scores/alerts.js';
import { createRecentAlerts, DEFAULT_RECENT_ALERTS } from '../../src/scores/recentAlerts.js';

let at = 0;
function alert(sessionId: string, state: Alert['state'], rule = 'neg'): Alert {
  at += 1000;
  return { type: 'alert', sessionId, rule, state, since: 0, at, score: -2, message: `${sessionId} ${state}` };
}
const brief = (alerts: Alert[]) => alerts.map((a) => `${a.sessionId} ${a.state}`);

test('keeps the last `limit` transitions, oldest first', () => {
  const recent = createRecentAlerts({ limit: 3 });
  for (const s of ['a', 'b', 'c', 'd', 'e']) {
    recent.add(alert(s, 'firing'));
    recent.add(alert(s, 'resolved'));
  }
  assert.deepEqual(brief(recent.list()), ['d resolved', 'e firing', 'e resolved']);
  assert.equal(recent.size, 3);
});

test('an alert still firing stays listed after its transition fell out of the recent ones', () => {
  const recent = createRecentAlerts({ limit: 2 });
  recent.add(alert('old', 'firing'));
  recent.add(alert('x', 'firing'));
  recent.add(alert('x', 'resolved'));
  recent.add(alert('y', 'firing', 'other'));
  assert.deepEqual(brief(recent.list()), ['old firing', 'x resolved', 'y firing']);
  recent.add(alert('old', 'resolved'));
  assert.deepEqual(brief(recent.list()), ['y firing', 'old resolved'], 'resolved: the firing event is no longer kept apart');
});

test('list takes the sessions a subscription covers', () => {
  const recent = createRecentAlerts();
  recent.add(alert('call-1', 'firing'));
  recent.add(alert('stream-1', 'firing'));
  recent.add(alert('call-2', 'firing'));
  assert.deepEqual(brief(recent.list((s) => s.startsWith('call-'))), ['call-1 firing', 'call-2 firing']);
});

test('memory is bounded: at most limit transitions and maxFiring firing events, however many alerts', () => {
  const recent = createRecentAlerts({ limit: 10, maxFiring: 5 });
  for (let i = 0; i < 10_000; i++) recent.add(alert(`s${i}`, 'firing'));
  assert.ok(recent.size <= 15, `holds ${recent.size}`);
  const listed = recent.list();
  assert.equal(listed.length, 10, 'the 5 firing events kept are among the 10 recent transitions');
  assert.equal(listed.at(-1)!.sessionId, 's9999');
  assert.deepEqual(DEFAULT_RECENT_ALERTS, { limit: 200, maxFiring: 1000 });
  assert.throws(() => createRecentAlerts({ limit: 0 }), /limit must be an integer >= 1, got 0/);
});
