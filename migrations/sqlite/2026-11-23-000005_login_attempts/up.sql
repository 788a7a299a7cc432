-- Failed logins, per account and per client address, so that every replica sees the same
-- counts when it decides to refuse a login (429) for a while.
CREATE TABLE login_failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'account:<email>' or 'address:<ip>'.
    subject    TEXT NOT NULL,
    failed_at  TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_subject_idx ON login_failures (subject, failed_at);
