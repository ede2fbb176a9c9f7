// The Workers Rate Limiting binding for plain workerd (scripts/bench): a fixed window per key that
// really counts, built by a `wrapped` binding from the limit and period of wrangler.toml.

// Per binding name, then per key: { window, count }. Module state lives as long as the isolate,
// which under `workerd serve` is the whole run.
const counters = new Map();

// workers-rs accepts the binding only if its constructor is named "Ratelimit".
class Ratelimit {
  constructor(name, limit, period) {
    this.name = name;
    this.limitPerPeriod = limit;
    this.periodMs = period * 1000;
    if (!counters.has(name)) counters.set(name, new Map());
  }

  async limit({ key }) {
    const buckets = counters.get(this.name);
    const window = Math.floor(Date.now() / this.periodMs);
    let bucket = buckets.get(key);
    if (!bucket || bucket.window !== window) {
      // A new window: the old buckets can only be stale, so they go (bounds the map).
      if (bucket === undefined && buckets.size > 100000) buckets.clear();
      bucket = { window, count: 0 };
      buckets.set(key, bucket);
    }
    if (bucket.count >= this.limitPerPeriod) return { success: false };
    bucket.count += 1;
    return { success: true };
  }
}

export default function makeBinding(env) {
  return new Ratelimit(env.name, env.limit, env.period);
}
