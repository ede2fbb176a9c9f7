-- Pull events (src/events.rs) and their daily aggregates. Applied by `wrangler d1 migrations
-- apply` (scripts/dev locally, with --local and the edge's --persist-to; --remote on deploy).

-- One row per event; the consumer inserts with INSERT OR IGNORE on the id, so a redelivered
-- queue batch adds nothing. Rows older than RETENTION_DAYS are deleted by the daily cron.
CREATE TABLE events (
  id TEXT PRIMARY KEY NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  method TEXT NOT NULL,
  app TEXT,
  customer TEXT,
  license TEXT,
  image TEXT,
  tag TEXT,
  digest TEXT,
  media_type TEXT,
  bytes INTEGER,
  status INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT,
  reason TEXT,
  client TEXT,
  country TEXT,
  colo TEXT,
  agent TEXT,
  agent_version TEXT
);
CREATE INDEX events_app_at ON events (app, at);
CREATE INDEX events_app_customer_at ON events (app, customer, at);

-- Per day, app, customer, image and version (the tag; '' for requests by digest and for blobs):
-- pulls (manifest requests by tag), bytes served, the last pull. Kept when raw events expire.
CREATE TABLE daily_usage (
  day TEXT NOT NULL,
  app TEXT NOT NULL,
  customer TEXT NOT NULL,
  image TEXT NOT NULL,
  version TEXT NOT NULL,
  pulls INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (day, app, customer, image, version)
);

-- The distinct client networks (/24, /48) behind each daily_usage row.
CREATE TABLE daily_clients (
  day TEXT NOT NULL,
  app TEXT NOT NULL,
  customer TEXT NOT NULL,
  image TEXT NOT NULL,
  version TEXT NOT NULL,
  client TEXT NOT NULL,
  PRIMARY KEY (day, app, customer, image, version, client)
);

-- Runs only for rows really inserted (an ignored duplicate fires nothing), so aggregates stay
-- exact under redelivery. Successful pulls of a known customer count; refusals do not.
CREATE TRIGGER events_daily AFTER INSERT ON events
WHEN NEW.outcome IN ('ok', 'redirected') AND NEW.kind IN ('manifest', 'blob')
  AND NEW.app IS NOT NULL AND NEW.customer IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO daily_usage (day, app, customer, image, version, pulls, bytes, last_at)
  VALUES (date(NEW.at, 'unixepoch'), NEW.app, NEW.customer, COALESCE(NEW.image, ''), COALESCE(NEW.tag, ''), 0, 0, NEW.at);
  UPDATE daily_usage
  SET pulls = pulls + (CASE WHEN NEW.kind = 'manifest' AND NEW.tag IS NOT NULL THEN 1 ELSE 0 END),
      bytes = bytes + COALESCE(NEW.bytes, 0),
      last_at = MAX(last_at, NEW.at)
  WHERE day = date(NEW.at, 'unixepoch') AND app = NEW.app AND customer = NEW.customer
    AND image = COALESCE(NEW.image, '') AND version = COALESCE(NEW.tag, '');
  INSERT OR IGNORE INTO daily_clients (day, app, customer, image, version, client)
  SELECT date(NEW.at, 'unixepoch'), NEW.app, NEW.customer, COALESCE(NEW.image, ''), COALESCE(NEW.tag, ''), NEW.client
  WHERE NEW.client IS NOT NULL;
END;
