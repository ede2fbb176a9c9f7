// The Cache API for plain workerd (scripts/bench): workerd sends cache.match/put/delete here as
// GET/PUT/PURGE of the cache key; entries live in memory for their max-age, whole or by one range.
// A request with an `x-bench-count` header (which no Worker sends) answers how many lookups hit
// and missed, so the bench can tell a row is served from the cache without a debug header.

const entries = new Map();
// Bounds what one run can hold (the bench stores one 3 MiB layer, a few times over).
const MAX_BYTES = 256 << 20;
let storedBytes = 0;

let hits = 0;
let misses = 0;

const MISS = () => {
  misses += 1;
  return new Response(null, { status: 504, headers: { "cf-cache-status": "MISS" } });
};

// A PUT body is the response serialised as HTTP/1.1: status line, headers, blank line, body.
function parseStored(bytes) {
  let end = -1;
  for (let i = 0; i + 3 < bytes.length && i < 65536; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i;
      break;
    }
  }
  if (end < 0) return null;
  const [statusLine, ...lines] = new TextDecoder().decode(bytes.subarray(0, end)).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status, headers, body: bytes.slice(end + 4) };
}

function maxAgeSeconds(headers) {
  const cc = (headers.get("cache-control") ?? "").toLowerCase();
  if (cc.includes("no-store") || cc.includes("private")) return 0;
  const m = /s-maxage=(\d+)/.exec(cc) ?? /max-age=(\d+)/.exec(cc);
  return m ? Number(m[1]) : 0;
}

// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null when absent, "bad" when unsatisfiable.
function parseRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return "bad";
  let start, end;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? "bad" : { start, end };
}

function match(request) {
  const entry = entries.get(request.url);
  if (!entry) return MISS();
  if (Date.now() > entry.expires) {
    entries.delete(request.url);
    storedBytes -= entry.body.length;
    return MISS();
  }
  hits += 1;
  const headers = new Headers(entry.headers);
  headers.set("cf-cache-status", "HIT");
  const size = entry.body.length;
  const range = parseRange(request.headers.get("range"), size);
  if (range === "bad") {
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  if (range === null) return new Response(entry.body, { status: entry.status, headers });
  headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  headers.set("content-length", String(range.end - range.start + 1));
  return new Response(entry.body.subarray(range.start, range.end + 1), { status: 206, headers });
}

async function put(request) {
  const stored = parseStored(new Uint8Array(await request.arrayBuffer()));
  if (!stored) return new Response(null, { status: 400 });
  const ttl = maxAgeSeconds(stored.headers);
  if (ttl === 0 || stored.status !== 200 || storedBytes + stored.body.length > MAX_BYTES) {
    return new Response(null, { status: 413 });
  }
  const old = entries.get(request.url);
  if (old) storedBytes -= old.body.length;
  entries.set(request.url, { ...stored, expires: Date.now() + ttl * 1000 });
  storedBytes += stored.body.length;
  return new Response(null, { status: 204 });
}

export default {
  async fetch(request) {
    if (request.headers.has("x-bench-count")) return Response.json({ hits, misses });
    switch (request.method) {
      case "GET":
        return match(request);
      case "PUT":
        return put(request);
      case "PURGE": {
        const entry = entries.get(request.url);
        if (!entry) return new Response(null, { status: 404 });
        entries.delete(request.url);
        storedBytes -= entry.body.length;
        return new Response(null);
      }
      default:
        return new Response(null, { status: 405 });
    }
  },
};
