-- /readyz proves that the database takes writes, not only that it answers: each check
-- updates this one row (at most once a second per server process) and commits.
CREATE TABLE readiness_heartbeat (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checks     INTEGER NOT NULL DEFAULT 0,
    checked_at TIMESTAMP
);
INSERT INTO readiness_heartbeat (id) VALUES (1);

-- Delivery errors are a fixed vocabulary from now on ('timeout', 'connection refused',
-- 'http 503', ...). Errors recorded before held the HTTP library's own text, which told an
-- admin how internal hosts answered: they become the vocabulary's words.
UPDATE webhook_deliveries
SET last_error = CASE
    WHEN last_status_code IS NOT NULL THEN 'http ' || last_status_code
    ELSE 'delivery failed'
END
WHERE last_error IS NOT NULL;
