-- The audit log: who did what in bulk (an export of the customer file, ...), for the
-- record. Rows are only ever added; they hold no personal data.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    shop_id    BIGINT NOT NULL REFERENCES shops (id),
    -- 'user:<id>' or 'api_key:<id>'.
    actor      TEXT NOT NULL,
    -- e.g. 'customers.export'.
    action     TEXT NOT NULL,
    -- JSON object: what the action was applied to (an export's filters), by name.
    details    TEXT NOT NULL,
    row_count  BIGINT,
    at         TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_shop_idx ON audit_log (shop_id, id);
CREATE INDEX audit_log_shop_action_idx ON audit_log (shop_id, action, id);
