-- Login attempts replace login failures. A row is written *before* the password is checked,
-- in the same transaction that counted the earlier ones, so that guesses sent at once are
-- counted at once; a successful attempt deletes it again, so what stays is a failure (or an
-- attempt whose check is still running). One row names both the account and the address,
-- so failures are counted per account, per address, and per account from one address.
-- Failures counted before this migration are forgotten (at most one window of lock-out).
DROP TABLE login_failures;
CREATE TABLE login_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The normalised email tried, whether or not it is an account.
    account      TEXT NOT NULL,
    -- The client's address (the TCP peer).
    address      TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_account_idx ON login_attempts (account, attempted_at);
CREATE INDEX login_attempts_address_idx ON login_attempts (address, attempted_at);
-- For the housekeeping purge of attempts too old to count.
CREATE INDEX login_attempts_attempted_at_idx ON login_attempts (attempted_at);
