// Baseline for scripts/bench: relays the request path to the upstream without auth, the least a
// registry proxy can do (one upstream fetch, body streamed through, redirects passed on as they are).
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers();
    const accept = request.headers.get("accept");
    if (accept) headers.set("accept", accept);
    return fetch(env.UPSTREAM + url.pathname + url.search, { headers, redirect: "manual" });
  },
};
