-- The buyer's own voice: a satisfaction survey per resolution, answered once on a public
-- page (/s/{token}). Only the SHA-256 of the link's token is stored; the token itself is
-- derived from `nonce` with a key only the servers hold, so the database alone never
-- yields a working link.
CREATE TABLE surveys (
    id           BIGSERIAL PRIMARY KEY,
    shop_id      BIGINT NOT NULL REFERENCES shops (id),
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    -- Hex SHA-256 of the token in the link.
    token_hash   TEXT NOT NULL,
    -- Random bytes (base64url) the token is derived from under the servers' key.
    nonce        TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    answered_at  TIMESTAMP,
    -- The answer, as the buyer gave it (the ticket holds it too, while the episode lasts).
    score        INTEGER CHECK (score BETWEEN 1 AND 5),
    reasons      TEXT,
    comment      TEXT,
    -- An agent nudged the buyer once (the reminder is then done).
    nudged_at    TIMESTAMP,
    -- The ticket was reopened before an answer: the link no longer records anything.
    withdrawn_at TIMESTAMP
);
CREATE UNIQUE INDEX surveys_token_hash_key ON surveys (token_hash);
CREATE INDEX surveys_ticket_idx ON surveys (ticket_id, id);
-- The reminders' "unanswered surveys" walk: open surveys of a shop, oldest first.
CREATE INDEX surveys_unanswered_idx ON surveys (shop_id, created_at)
    WHERE answered_at IS NULL AND withdrawn_at IS NULL AND nudged_at IS NULL;

-- Who gave the ticket's score: staff typing it in, or the buyer through the survey.
ALTER TABLE tickets ADD COLUMN satisfaction_source TEXT CHECK (satisfaction_source IN ('staff', 'buyer'));
-- The reasons tapped with the score, space-separated (speed, attitude, solution, product_quality, other).
ALTER TABLE tickets ADD COLUMN satisfaction_reasons TEXT;
UPDATE tickets SET satisfaction_source = 'staff' WHERE satisfaction_score IS NOT NULL;
