-- RFM scores live in their own table, not on `customers`: every full recomputation may
-- rewrite many of them, and an indexed column of `customers` changing would make each of
-- those updates a non-HOT update of the busiest table (issue 17). Here a rewrite touches
-- only this narrow table and its own indexes.
CREATE TABLE customer_rfm (
    customer_id      BIGINT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    shop_id          BIGINT NOT NULL REFERENCES shops (id),
    recency_score    INTEGER NOT NULL CHECK (recency_score BETWEEN 1 AND 5),
    frequency_score  INTEGER NOT NULL CHECK (frequency_score BETWEEN 1 AND 5),
    monetary_score   INTEGER NOT NULL CHECK (monetary_score BETWEEN 1 AND 5),
    segment          TEXT NOT NULL CHECK (segment IN ('champions', 'loyal', 'potential_loyalist',
        'new', 'promising', 'needs_attention', 'about_to_sleep', 'at_risk', 'cannot_lose',
        'hibernating', 'lost')),
    last_order_at    TIMESTAMP NOT NULL,
    order_count      BIGINT NOT NULL,
    -- Counted orders' totals less refunds of resolved tickets on them, in cents.
    net_spent_cents  BIGINT NOT NULL,
    -- JSON list of {code, detail}, like customers.tier_reasons.
    reasons          TEXT NOT NULL,
    computed_at      TIMESTAMP NOT NULL
);
CREATE INDEX customer_rfm_segment_idx ON customer_rfm (shop_id, segment, customer_id);
CREATE INDEX customer_rfm_recency_idx ON customer_rfm (shop_id, recency_score, customer_id);
CREATE INDEX customer_rfm_frequency_idx ON customer_rfm (shop_id, frequency_score, customer_id);
CREATE INDEX customer_rfm_monetary_idx ON customer_rfm (shop_id, monetary_score, customer_id);

-- Every change of a customer's segment (NULL: not a scored buyer), like tier_changes:
-- the flows between segments since any date, and the counts at that date, come from it.
CREATE TABLE rfm_segment_changes (
    id            BIGSERIAL PRIMARY KEY,
    shop_id       BIGINT NOT NULL REFERENCES shops (id),
    customer_id   BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    from_segment  TEXT,
    to_segment    TEXT,
    cause         TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX rfm_segment_changes_shop_idx ON rfm_segment_changes (shop_id, created_at, customer_id);

-- One row per full recomputation: when, how many buyers, and the quintile cut-offs
-- (JSON) that single-customer refreshes score against until the next one.
CREATE TABLE rfm_runs (
    id           BIGSERIAL PRIMARY KEY,
    shop_id      BIGINT NOT NULL REFERENCES shops (id),
    computed_at  TIMESTAMP NOT NULL,
    buyers       BIGINT NOT NULL,
    cutoffs      TEXT NOT NULL
);
CREATE INDEX rfm_runs_shop_idx ON rfm_runs (shop_id, id);

-- Tag groups as a concept: a group named by tags.tag_group may have a row here saying it
-- is single-choice (a customer holds at most one of its tags). No row: multiple choice.
CREATE TABLE tag_groups (
    id             BIGSERIAL PRIMARY KEY,
    shop_id        BIGINT NOT NULL REFERENCES shops (id),
    name           TEXT NOT NULL,
    single_choice  BOOLEAN NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tag_groups_shop_name_key ON tag_groups (shop_id, name);

-- Tag names are unique regardless of ASCII case (`VIP` and `vip` are one tag). The key is
-- a column the application writes (Rust `to_ascii_lowercase`), filled here with the same
-- ASCII-only folding on both backends (PostgreSQL's lower() would also fold non-ASCII
-- letters, SQLite's would not; the two must agree).
ALTER TABLE tags ADD COLUMN name_key TEXT;
UPDATE tags SET name_key = translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');

-- Existing duplicates are merged into the oldest tag (lowest id) of each key: it keeps its
-- name, takes the first group found among the duplicates (lowest id first) if it had none,
-- and every customer of a duplicate carries it instead.
CREATE TEMPORARY TABLE tag_merges AS
    SELECT t.id AS dup_id,
           (SELECT MIN(k.id) FROM tags k WHERE k.shop_id = t.shop_id AND k.name_key = t.name_key) AS keep_id
    FROM tags t;
DELETE FROM tag_merges WHERE dup_id = keep_id;
UPDATE tags SET tag_group = (
        SELECT d.tag_group FROM tags d JOIN tag_merges m ON m.dup_id = d.id
        WHERE m.keep_id = tags.id AND d.tag_group IS NOT NULL ORDER BY d.id LIMIT 1)
    WHERE tag_group IS NULL AND id IN (SELECT keep_id FROM tag_merges);
INSERT INTO customer_tags (customer_id, tag_id)
    SELECT DISTINCT ct.customer_id, m.keep_id FROM customer_tags ct JOIN tag_merges m ON m.dup_id = ct.tag_id
    ON CONFLICT DO NOTHING;
DELETE FROM customer_tags WHERE tag_id IN (SELECT dup_id FROM tag_merges);
DELETE FROM tags WHERE id IN (SELECT dup_id FROM tag_merges);
DROP TABLE tag_merges;

ALTER TABLE tags ALTER COLUMN name_key SET NOT NULL;
DROP INDEX tags_shop_name_key;
CREATE UNIQUE INDEX tags_shop_name_key_key ON tags (shop_id, name_key);
CREATE INDEX tags_shop_group_idx ON tags (shop_id, tag_group);
