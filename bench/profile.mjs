// A CPU profile of one Worker under plain workerd, for finding what a request spends its time
// on. Start workerd with its inspector (`workerd serve -i 127.0.0.1:9229 <config>`, for example
// the config scripts/bench leaves in target/bench-state/workerd/), put load on the Worker (wrk),
// and run: node --experimental-websocket bench/profile.mjs <worker> <seconds> <out.cpuprofile>
// <worker> is the config's service name (pullgate, events, ...). It prints self time by
// function, busy samples only; the .cpuprofile opens in Chrome DevTools. Build the Worker with
// PULLGATE_WASM_NAMES=keep for Rust function names.
import { writeFileSync } from "node:fs";

const [worker, seconds, out] = process.argv.slice(2);
if (!worker || !seconds || !out) {
  console.error("usage: node --experimental-websocket bench/profile.mjs <worker> <seconds> <out.cpuprofile>");
  process.exit(2);
}
const ws = new WebSocket(`ws://127.0.0.1:9229/${worker}`);
let nextId = 0;
const pending = new Map();
const call = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++nextId;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
ws.onmessage = (m) => {
  const d = JSON.parse(m.data);
  if (d.id && pending.has(d.id)) {
    pending.get(d.id)(d.result ?? d.error);
    pending.delete(d.id);
  }
};
ws.onerror = () => {
  console.error(`profile: no inspector for worker ${worker} on 127.0.0.1:9229`);
  process.exit(1);
};
ws.onopen = async () => {
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  const { profile } = await call("Profiler.stop");
  writeFileSync(out, JSON.stringify(profile));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let busy = 0;
  for (const id of profile.samples) {
    const frame = nodes.get(id).callFrame;
    const name = frame.functionName || `(${frame.url.split("/").pop() || "anonymous"}:${frame.lineNumber})`;
    if (name === "(idle)") continue;
    self.set(name, (self.get(name) || 0) + 1);
    busy += 1;
  }
  console.log(`${busy} busy samples of ${profile.samples.length}`);
  for (const [name, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${((100 * n) / busy).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
  }
  ws.close();
};
