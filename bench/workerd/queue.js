// The pull-event Queue for plain workerd (scripts/bench): workerd delivers a producer's send()
// and sendBatch() to this service as POST /message and POST /batch; it accepts and counts them,
// standing in for Cloudflare's queue (the consumer and D1 are not part of the measured path).
// GET /count answers how many events arrived in how many sends, so the bench can tell events
// were really sent, and batched.

let received = 0;
let sends = 0;

export default {
  async fetch(request) {
    if (request.method === "GET") {
      return Response.json({ received, sends });
    }
    const body = await request.text();
    sends += 1;
    if (new URL(request.url).pathname.endsWith("/batch")) {
      try {
        received += JSON.parse(body).messages.length;
      } catch {
        return new Response("not a batch", { status: 400 });
      }
    } else {
      received += 1;
    }
    // This workerd reads the answer as JSON (send() resolves to its metadata); an empty body
    // fails every send with "Unexpected end of JSON input".
    return Response.json({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: 0 } } });
  },
};
