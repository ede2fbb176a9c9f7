// The pull-event Queue for plain workerd (scripts/bench): workerd delivers a producer's send()
// and sendBatch() to this service as POST /message and POST /batch; it accepts and counts them,
// standing in for Cloudflare's queue (the consumer and D1 are not part of the measured path).
// GET /count answers how many events arrived in how many messages and sends, so the bench can
// tell events were really sent, and packed.

let received = 0;
let messages = 0;
let sends = 0;

// Events in one queued message: the edge packs a list of them into each (a JSON array; its body
// arrives base64-encoded).
// A message that is not such a list (the JS hello's own sends) counts as one.
const eventsIn = (message) => {
  try {
    const text = atob(message.body);
    return text.startsWith("[") ? JSON.parse(text).length : 1;
  } catch {
    return 1;
  }
};

export default {
  async fetch(request) {
    if (request.method === "GET") {
      return Response.json({ received, messages, sends });
    }
    const body = await request.text();
    sends += 1;
    if (new URL(request.url).pathname.endsWith("/batch")) {
      try {
        const batch = JSON.parse(body).messages;
        messages += batch.length;
        for (const message of batch) received += eventsIn(message);
      } catch {
        return new Response("not a batch", { status: 400 });
      }
    } else {
      messages += 1;
      received += 1;
    }
    // This workerd reads the answer as JSON (send() resolves to its metadata); an empty body
    // fails every send with "Unexpected end of JSON input".
    return Response.json({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: 0 } } });
  },
};
