// Batched crossings of the wasm boundary (src/edge/boundary.rs): one call reads or writes all
// the headers a request needs, where the generated bindings make one call per header, each
// costing more than the Rust work on its value. Values travel as one string, one line each:
// header values can hold no line break or NUL (Fetch standard), so "\n" separates them and a
// lone NUL stands for an absent one.

const ABSENT = "\u0000";

const lines = (headers, names) => {
  let out = "";
  for (const name of names) {
    const value = headers.get(name);
    out += "\n" + (value === null ? ABSENT : value);
  }
  return out;
};

// A client's request: method, URL, then the named headers; then, if asked, its place: the
// CF-IPCountry and CF-Ray headers Cloudflare adds, and only when one is missing, cf.country and
// cf.colo (absent locally), as the request's cf object costs more to read than a header.
export function requestParts(request, names, withPlace) {
  let out = request.method + "\n" + request.url + lines(request.headers, names);
  if (withPlace) {
    const country = request.headers.get("cf-ipcountry");
    const ray = request.headers.get("cf-ray");
    out += "\n" + (country ?? ABSENT) + "\n" + (ray ?? ABSENT);
    const cf = country === null || ray === null ? request.cf : undefined;
    for (const key of ["country", "colo"]) {
      const value = cf != null && typeof cf === "object" ? cf[key] : undefined;
      out += "\n" + (typeof value === "string" && !value.includes("\n") ? value : ABSENT);
    }
  }
  return out;
}

// The named headers of a Headers object.
export function headerValues(headers, names) {
  return lines(headers, names).slice(1);
}

// A Headers object from "name\nvalue\n..." (names and values checked by the caller).
export function headersFrom(text) {
  const headers = new Headers();
  if (text === "") return headers;
  const parts = text.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    try {
      headers.append(parts[i], parts[i + 1]);
    } catch (e) {
      // Checked for control characters already; a refusal here would be a runtime quirk.
      console.error(`header ${parts[i]}: ${e}`);
    }
  }
  return headers;
}

// fetch(url) with redirects left to the caller, rejected with a TimeoutError (and aborted) if
// its response headers take longer than `ms`; the timer goes once they arrive, so a long body
// is never cut. One crossing for what the bindings make a dozen: the request's headers, its
// init, the abort controller, the timer and its callback.
export function fetchWithin(url, method, headerText, body, ms) {
  const controller = new AbortController();
  const init = { method, headers: headersFrom(headerText), redirect: "manual", signal: controller.signal };
  if (body !== undefined) init.body = body;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new DOMException(`no response headers within ${ms} ms`, "TimeoutError"));
    }, ms);
  });
  return Promise.race([fetch(url, init), timeout]).finally(() => clearTimeout(timer));
}

// The client's response: status, headers as in headersFrom, and a body (bytes, a stream, or
// undefined for none).
export function respond(status, headerText, body) {
  return new Response(body ?? null, { status, headers: headersFrom(headerText) });
}

// One count against a Rate Limiting binding: true if within the limit. Rejects if the binding
// is missing or its call fails. One crossing where the bindings make a dozen (the binding's
// lookup and type check, the options object, the outcome's fields).
export function limitWith(env, binding, key) {
  const limiter = env[binding];
  if (limiter == null || typeof limiter.limit !== "function") {
    return Promise.reject(new Error(`no rate limiter bound as ${binding}`));
  }
  return limiter.limit({ key }).then((outcome) => outcome?.success === true);
}

// One sendBatch of text messages to the Queue binding `binding`: `text` holds them one a line
// (JSON, which has no raw line break). One crossing where the bindings make a dozen per message.
export function sendTexts(env, binding, text) {
  const queue = env[binding];
  if (queue == null || typeof queue.sendBatch !== "function") {
    return Promise.reject(new Error(`no queue bound as ${binding}`));
  }
  return queue.sendBatch(text.split("\n").map((body) => ({ body, contentType: "text" })));
}

// Header names as a JS array, made once per isolate.
export function nameList(text) {
  return text.split("\n");
}
