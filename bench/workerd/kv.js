// The KV namespace for plain workerd (scripts/bench): answers workerd's KV protocol (GET /<key>,
// PUT, DELETE, list) over an in-memory map seeded with the records the admin CLI wrote. A request
// with an `x-bench-count` header (which workerd never sends) answers how many reads it served.
import seed from "./kv-seed.json";

const store = new Map(Object.entries(seed));
let reads = 0;

function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

export default {
  async fetch(request) {
    if (request.headers.has("x-bench-count")) return Response.json({ reads });
    const url = new URL(request.url);
    const key = keyOf(url);
    switch (request.method) {
      case "GET": {
        reads += 1;
        if (key === "") {
          const prefix = url.searchParams.get("prefix") ?? "";
          const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort().map((name) => ({ name }));
          return Response.json({ keys, list_complete: true, cacheStatus: null });
        }
        const value = store.get(key);
        return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
      }
      case "PUT":
        store.set(key, await request.text());
        return new Response(null);
      case "DELETE":
        store.delete(key);
        return new Response(null);
      default:
        return new Response(null, { status: 405 });
    }
  },
};
