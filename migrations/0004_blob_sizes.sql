-- The config and layer sizes image manifests state, per app (src/blob_sizes.rs): a blob the
-- edge redirects to the upstream's storage is stored in `events` with the size its manifest
-- gave (events.bytes), since the edge never sees those bytes. Rows no manifest stated within
-- RETENTION_DAYS are deleted by the daily cron; seen_at moves at most once a day.
CREATE TABLE blob_sizes (
  app TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (app, digest)
);
