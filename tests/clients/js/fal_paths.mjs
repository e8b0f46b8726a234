// Every path of the official @fal-ai/client against the mock, unmodified: one line of config
// (createFalClient / fal.config with proxyUrl) and the rest as fal's docs show it. Prints one JSON object per step to
// stdout; tests/clients/test_fal_js.py asserts on them. Usage: node fal_paths.mjs BASE CLIP_PATH
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createFalClient } from "@fal-ai/client";

const [base, clipPath] = process.argv.slice(2);
const APP = "pixelcut/video-background-removal";
const SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4";
// In a browser the string form is enough (fal.config({ proxyUrl })); outside one the proxy is used "always".
const fal = createFalClient({ proxyUrl: { url: `${base}/fal/proxy`, when: "always" }, credentials: "js-key" });
const out = (step, data) => console.log(JSON.stringify({ step, ...data }));
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

async function fetched(url) {
  const response = await fetch(url);
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, type: response.headers.get("content-type"), size: bytes.length, sha: sha256(bytes) };
}

// subscribe (polling, with logs), as the model page's example
const updates = [];
const result = await fal.subscribe(APP, {
  input: { video_url: SAMPLE },
  logs: true,
  pollInterval: 10,
  onQueueUpdate: (update) => updates.push(update.status),
});
out("subscribe", { requestId: result.requestId, video: result.data.video, updates });

// queue: submit, status, status stream, result
const { request_id } = await fal.queue.submit(APP, { input: { video_url: SAMPLE, background: "green" } });
const first = await fal.queue.status(APP, { requestId: request_id, logs: true });
const streamed = [];
const done = await fal.queue.subscribeToStatus(APP, {
  requestId: request_id,
  mode: "streaming",
  logs: true,
  onQueueUpdate: (update) => streamed.push(update.status),
});
const queued = await fal.queue.result(APP, { requestId: request_id });
out("queue", { requestId: request_id, first: first.status, streamed, done: done.status, video: queued.data.video });

// cancel a queued request; its result is the documented request error
const late = await fal.queue.submit(APP, { input: { video_url: SAMPLE } });
await fal.queue.cancel(APP, { requestId: late.request_id });
const after = await fal.queue.status(APP, { requestId: late.request_id });
let cancelled = null;
try {
  await fal.queue.result(APP, { requestId: late.request_id });
} catch (error) {
  cancelled = { status: error.status, body: error.body };
}
out("cancel", { status: after.status, error_type: after.error_type, result: cancelled });

// run (fal.run)
const ran = await fal.run(APP, { input: { video_url: SAMPLE, output_format: "gif" } });
out("run", { requestId: ran.requestId, video: ran.data.video });

// storage: 1 KB, 20 MB, and 101 MB (the client's multipart from 90 MB)
for (const size of [1024, 20 * 1024 * 1024, 101 * 1024 * 1024]) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = (i / 4096) % 251;
  const url = await fal.storage.upload(new Blob([bytes], { type: "application/octet-stream" }));
  out("upload", { size, sha: sha256(bytes), url, back: await fetched(url) });
}

// a subscribe whose input holds a Blob: uploaded first, then used
const clip = new Blob([readFileSync(clipPath)], { type: "video/mp4" });
const withBlob = await fal.subscribe(APP, { input: { video_url: clip }, pollInterval: 10 });
out("blob", { video: withBlob.data.video, back: await fetched(withBlob.data.video.url) });

// startTimeout: a request still queued at it fails with fal's user timeout (the mock's queue is held 60 s)
await fetch(`${base}/__mock/faults`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ provider: "fal", operation: "fal-queue-submit", action: "queue", delay: 60, times: 1 }),
});
try {
  await fal.subscribe(APP, { input: { video_url: SAMPLE }, startTimeout: 5, pollInterval: 10 });
  out("timeout", { status: 200 });
} catch (error) {
  out("timeout", { status: error.status, isUserTimeout: error.isUserTimeout, body: error.body });
}

// a validation error surfaces as the client's ValidationError (422, X-Fal-Retryable)
try {
  await fal.run(APP, { input: { video_url: SAMPLE, background: "custom" } });
  out("invalid", { status: 200 });
} catch (error) {
  out("invalid", { name: error.name, status: error.status, body: error.body });
}
