// Baseline for scripts/bench: the least a Worker can do under the same workerd (no routing, no I/O).
export default {
  async fetch() {
    return new Response("hello\n", { headers: { "content-type": "text/plain" } });
  },
};
