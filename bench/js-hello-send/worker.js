// Baseline for scripts/bench: JS hello that also queues one event-sized message after the
// response (ctx.waitUntil), so the events table can tell what any queued send costs under this
// workerd from what pullgate adds to it.
const EVENT = JSON.stringify({
  id: "0".repeat(32), at: 1764633600, kind: "manifest", method: "GET", app: "demo", customer: "Bench",
  license: "lic_0000000000000000000000000", image: "local/demo/hello", tag: "1.0",
  digest: "sha256:" + "0".repeat(64), media_type: "application/vnd.oci.image.manifest.v1+json",
  bytes: 512, status: 200, outcome: "ok", client: "127.0.0.0/24", agent: "other",
});

export default {
  async fetch(request, env, ctx) {
    ctx.waitUntil(env.PULLGATE_EVENTS.send(EVENT, { contentType: "text" }));
    return new Response("hello\n", { headers: { "content-type": "text/plain" } });
  },
};
