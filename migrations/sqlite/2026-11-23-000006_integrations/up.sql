-- Integrations: API keys, idempotent POSTs, and webhooks fed by a transactional outbox.

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id       BIGINT NOT NULL REFERENCES shops (id),
    name          TEXT NOT NULL,
    -- The key's public part (ak_<prefix>_<secret>): finds the row, and lets people
    -- recognise a key in lists without the secret.
    key_prefix    TEXT NOT NULL,
    -- SHA-256 of the whole key. The secret is 256 random bits, so a fast hash is as
    -- strong as a slow one here and keeps every request cheap.
    secret_hash   TEXT NOT NULL,
    -- Space-separated, e.g. 'customers:read tickets:write'.
    scopes        TEXT NOT NULL,
    created_by    BIGINT REFERENCES users (id),
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);
CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (key_prefix);
CREATE INDEX api_keys_shop_idx ON api_keys (shop_id, id);

-- The first response to each (caller, Idempotency-Key), replayed to retries.
CREATE TABLE idempotency_keys (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'user:<id>' or 'api_key:<id>': one caller's keys never collide with another's.
    subject           TEXT NOT NULL,
    idempotency_key   TEXT NOT NULL,
    -- SHA-256 of method, path, query and body: the same key with another request is refused.
    request_hash      TEXT NOT NULL,
    -- NULL while the first request is still being served.
    response_status   INTEGER,
    -- JSON object of the replayed headers (content type, ETag, Location).
    response_headers  TEXT,
    response_body     TEXT,
    created_at        TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys (subject, idempotency_key);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

CREATE TABLE webhook_endpoints (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id      BIGINT NOT NULL REFERENCES shops (id),
    url          TEXT NOT NULL,
    -- Space-separated event types, e.g. 'ticket.created ticket.state_changed'.
    events       TEXT NOT NULL,
    -- Signs every delivery (HMAC-SHA256); kept readable because signing needs it.
    secret       TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_by   BIGINT REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_shop_idx ON webhook_endpoints (shop_id, id);

-- The outbox: written in the same transaction as the change it describes.
CREATE TABLE webhook_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id        BIGINT NOT NULL REFERENCES shops (id),
    event_type     TEXT NOT NULL,
    -- JSON: the event document sent to receivers (without delivery metadata).
    payload        TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    -- Set once the worker has turned the event into one delivery per subscribed endpoint.
    dispatched_at  TIMESTAMP
);
CREATE INDEX webhook_events_undispatched_idx ON webhook_events (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id           BIGINT NOT NULL REFERENCES shops (id),
    endpoint_id       BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id          BIGINT NOT NULL REFERENCES webhook_events (id),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due; NULL once delivered or failed.
    next_attempt_at   TIMESTAMP,
    -- A worker's claim: no other worker takes the delivery before this time.
    locked_until      TIMESTAMP,
    last_attempt_at   TIMESTAMP,
    last_status_code  INTEGER,
    last_error        TEXT,
    delivered_at      TIMESTAMP,
    created_at        TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_event_endpoint_key ON webhook_deliveries (event_id, endpoint_id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
