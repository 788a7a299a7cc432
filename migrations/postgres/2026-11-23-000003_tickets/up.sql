CREATE TABLE tickets (
    id                    BIGSERIAL PRIMARY KEY,
    shop_id               BIGINT NOT NULL REFERENCES shops (id),
    customer_id           BIGINT NOT NULL REFERENCES customers (id),
    order_id              BIGINT REFERENCES orders (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('negative_review', 'return', 'repair')),
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    -- Kind-specific details as JSON, validated per kind by the service.
    details               TEXT NOT NULL,
    -- Set for negative reviews that carry a review id: the same review never opens two tickets.
    review_platform       TEXT,
    review_external_id    TEXT,
    state                 TEXT NOT NULL CHECK (state IN ('new', 'first_call', 'follow_up', 'resolved', 'closed')),
    -- 1 urgent, 2 high, 3 normal, 4 low: sorts most pressing first.
    priority              INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4),
    assignee_id           BIGINT REFERENCES users (id),
    first_call_due_at     TIMESTAMP NOT NULL,
    first_contact_at      TIMESTAMP,
    last_contact_at       TIMESTAMP,
    next_follow_up_at     TIMESTAMP,
    -- When the ticket next needs someone: the first-call deadline while new, the next
    -- follow-up after; NULL once resolved or closed. Queues sort and filter on it.
    due_at                TIMESTAMP,
    outcome               TEXT,
    refund_cents          BIGINT CHECK (refund_cents >= 0),
    resolution_note       TEXT,
    close_reason          TEXT CHECK (close_reason IN ('unreachable', 'refused', 'duplicate', 'invalid')),
    resolved_at           TIMESTAMP,
    closed_at             TIMESTAMP,
    satisfaction_score    INTEGER CHECK (satisfaction_score BETWEEN 1 AND 5),
    satisfaction_comment  TEXT,
    satisfaction_at       TIMESTAMP,
    -- Optimistic concurrency: every change increments it; it is the ETag.
    version               BIGINT NOT NULL DEFAULT 1,
    created_by            BIGINT REFERENCES users (id),
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX tickets_shop_state_due_idx ON tickets (shop_id, state, due_at, id);
CREATE INDEX tickets_shop_assignee_due_idx ON tickets (shop_id, assignee_id, due_at, id);
CREATE INDEX tickets_shop_due_idx ON tickets (shop_id, due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX tickets_shop_priority_idx ON tickets (shop_id, priority, id);
-- By customer alone: the customer file, tier refreshes and per-customer lists look tickets up by it.
CREATE INDEX tickets_customer_idx ON tickets (customer_id, id);
CREATE INDEX tickets_shop_created_idx ON tickets (shop_id, created_at, id);
CREATE INDEX tickets_shop_kind_idx ON tickets (shop_id, kind, id);
CREATE UNIQUE INDEX tickets_review_key ON tickets (shop_id, review_platform, review_external_id)
    WHERE review_external_id IS NOT NULL;

CREATE TABLE ticket_contacts (
    id                 BIGSERIAL PRIMARY KEY,
    shop_id            BIGINT NOT NULL REFERENCES shops (id),
    ticket_id          BIGINT NOT NULL REFERENCES tickets (id),
    staff_id           BIGINT NOT NULL REFERENCES users (id),
    channel            TEXT NOT NULL CHECK (channel IN ('phone', 'wechat', 'shop_chat', 'sms', 'in_person')),
    reached            BOOLEAN NOT NULL,
    note               TEXT NOT NULL DEFAULT '',
    next_follow_up_at  TIMESTAMP,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX ticket_contacts_ticket_idx ON ticket_contacts (ticket_id, id);
CREATE INDEX ticket_contacts_shop_created_idx ON ticket_contacts (shop_id, created_at);

-- Append-only timeline: nothing about a ticket is ever silently overwritten.
CREATE TABLE ticket_events (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    actor_id    BIGINT REFERENCES users (id),
    kind        TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    -- JSON: what changed, before and after.
    data        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, id);
CREATE INDEX ticket_events_shop_kind_idx ON ticket_events (shop_id, kind, created_at);
