-- Webhooks (src/webhook.rs, `pullgate webhook`). In D1 rather than KV: the queue consumer
-- writes each hook's delivery status after every attempt, which needs a strongly consistent
-- store that takes many small writes (KV allows one write per key per second and reads stale).

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY NOT NULL,
  app TEXT NOT NULL,
  url TEXT NOT NULL,
  -- Subscribed topics, comma separated: pull, denied, license-expiring.
  events TEXT NOT NULL,
  -- The signing secret sealed with the root secret for `webhook:<id>` (keys::Sealed as JSON).
  sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- The last attempt: when, the receiver's status (0: no answer), what went wrong.
  last_at INTEGER,
  last_status INTEGER,
  last_error TEXT,
  delivered INTEGER NOT NULL DEFAULT 0,
  -- Deliveries given up after their last attempt.
  failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_app ON webhooks (app);
