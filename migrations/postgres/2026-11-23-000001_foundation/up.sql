-- Every domain table carries shop_id so several shops can share one database later.
CREATE TABLE shops (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
INSERT INTO shops (id, name) VALUES (1, 'Default shop');
SELECT setval(pg_get_serial_sequence('shops', 'id'), 1);

CREATE TABLE users (
    id                  BIGSERIAL PRIMARY KEY,
    shop_id             BIGINT NOT NULL REFERENCES shops (id),
    email               TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('agent', 'lead', 'admin')),
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash       TEXT NOT NULL,
    -- Tokens carry the generation they were issued under; bumping it (password reset,
    -- deactivation) revokes every token issued before.
    token_generation    BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
-- Emails are stored lower-cased; login is by email alone, so they are unique across shops.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_shop_role_idx ON users (shop_id, role, active);
