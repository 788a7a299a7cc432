-- Call scripts (话术): a lead's reply templates for a situation in a ticket's life, with
-- placeholders ({customer_name}, {order_no}, {product}, {agent_name}) filled in per ticket.
-- Bodies are checked when saved, so every stored placeholder is one the service knows.
CREATE TABLE call_scripts (
    id           BIGSERIAL PRIMARY KEY,
    shop_id      BIGINT NOT NULL REFERENCES shops (id),
    -- NULL: the script fits tickets of any kind.
    ticket_kind  TEXT CHECK (ticket_kind IN ('negative_review', 'return', 'repair')),
    situation    TEXT NOT NULL CHECK (situation IN ('first_call', 'follow_up', 'refund_offer', 'item_received', 'resolution')),
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_by   BIGINT REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
-- Serves the list (shop, kind or kind-less, situation) and a ticket's templates.
CREATE INDEX call_scripts_shop_kind_situation_idx ON call_scripts (shop_id, ticket_kind, situation, id);
