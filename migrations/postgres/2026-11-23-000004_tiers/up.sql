-- Value tiers are computed (src/tiers), never typed in.
ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'small' CHECK (tier IN ('key', 'regular', 'small'));
ALTER TABLE customers ADD COLUMN lifecycle_stage TEXT NOT NULL DEFAULT 'potential'
    CHECK (lifecycle_stage IN ('potential', 'new', 'returning', 'loyal', 'dormant'));
ALTER TABLE customers ADD COLUMN at_risk BOOLEAN NOT NULL DEFAULT FALSE;
-- JSON list of {code, detail}: why the customer has this tier, stage and flag.
ALTER TABLE customers ADD COLUMN tier_reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN tier_computed_at TIMESTAMP;
CREATE INDEX customers_shop_tier_idx ON customers (shop_id, tier, id) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_stage_idx ON customers (shop_id, lifecycle_stage, id) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_at_risk_idx ON customers (shop_id, at_risk, id) WHERE archived_at IS NULL;

CREATE TABLE tier_changes (
    id              BIGSERIAL PRIMARY KEY,
    shop_id         BIGINT NOT NULL REFERENCES shops (id),
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    from_tier       TEXT NOT NULL,
    to_tier         TEXT NOT NULL,
    from_stage      TEXT NOT NULL,
    to_stage        TEXT NOT NULL,
    from_at_risk    BOOLEAN NOT NULL,
    to_at_risk      BOOLEAN NOT NULL,
    reasons         TEXT NOT NULL,
    -- What caused the recomputation: order, ticket, satisfaction, recompute...
    cause           TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX tier_changes_shop_idx ON tier_changes (shop_id, id);
CREATE INDEX tier_changes_customer_idx ON tier_changes (customer_id, id);

-- Shop-wide cut-offs for the key tier, refreshed by every full recomputation.
CREATE TABLE tier_thresholds (
    shop_id                BIGINT PRIMARY KEY REFERENCES shops (id),
    key_spend_cents        BIGINT NOT NULL,
    key_order_count        BIGINT NOT NULL,
    computed_at            TIMESTAMP NOT NULL
);

-- Statistics group and filter tickets by these.
CREATE INDEX tickets_shop_resolved_idx ON tickets (shop_id, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_shop_closed_idx ON tickets (shop_id, closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX orders_shop_ordered_idx ON orders (shop_id, ordered_at);
