// The Worker's entry (wrangler.toml `main`): the fetch, queue and scheduled handlers of
// worker-build's module (build/index.js), called as plain functions. worker-build's default
// export is a `WorkerEntrypoint` class behind a `Proxy` that, on every request, constructs an
// instance, wraps it in a second `Proxy` and `fetch` in a third (about a tenth of the CPU of an
// answer that needs no I/O, measured under workerd). The handlers only read `this.env` and
// `this.ctx`, so they are called on a plain object holding those.
//
// What the proxies did besides stays true without them: a trap in the wasm marks its instance
// terminated and schedules a new one (worker's abort handler, through wasm-bindgen's
// reset-state glue inside build/index.js), so the next call starts on a fresh instance; the
// `WorkerEntrypoint` instance they rebuilt after a reset holds no state here.
// tests/e2e_admin.rs (`a_trapped_request_leaves_the_next_ones_answered`) traps a request on
// purpose and checks the next ones are answered.

import Entrypoint from "../../build/index.js";

const { fetch, queue, scheduled } = Entrypoint.prototype;

export default {
  fetch(request, env, ctx) {
    return fetch.call({ env, ctx }, request);
  },
  queue(batch, env, ctx) {
    return queue.call({ env, ctx }, batch);
  },
  scheduled(controller, env, ctx) {
    return scheduled.call({ env, ctx }, controller);
  },
};
