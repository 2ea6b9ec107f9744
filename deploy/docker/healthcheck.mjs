/* global fetch, AbortSignal */
// The image's HEALTHCHECK: exit 0 when GET /healthz on this container answers 200 within 4 s
// (503 while starting, degraded with Kafka away, or failed), else 1 with the reason on stderr.
const port = Number(process.env.MSA_WS_PORT || 8080);
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  if (res.ok) process.exit(0);
  console.error(`healthz: ${res.status} ${await res.text()}`);
} catch (err) {
  console.error(`healthz: ${err.message}`);
}
process.exit(1);
