-- A shop's service levels: its working calendar and its targets, as the JSON the API
-- takes (`GET/PUT /api/v1/sla/calendar`, `/api/v1/sla/policies`). No row, or a NULL
-- column: the defaults (around the clock in Asia/Shanghai; the deadline settings).
CREATE TABLE sla_settings (
    shop_id    BIGINT PRIMARY KEY REFERENCES shops (id),
    calendar   TEXT,
    policies   TEXT,
    updated_at TIMESTAMP NOT NULL,
    updated_by BIGINT REFERENCES users (id)
);

-- An open ticket may wait on the buyer or the platform: its resolution clock stops.
ALTER TABLE tickets ADD COLUMN waiting_on TEXT CHECK (waiting_on IN ('buyer', 'platform'));
ALTER TABLE tickets ADD COLUMN waiting_since TIMESTAMP;
-- The platform's own hard deadline (return auto-approval, end of the review-revision window).
ALTER TABLE tickets ADD COLUMN platform_deadline_at TIMESTAMP;

-- Every stretch a ticket waited; the resolution target's due time leaves them out.
CREATE TABLE ticket_waits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id    BIGINT NOT NULL REFERENCES shops (id),
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    waiting_on TEXT NOT NULL CHECK (waiting_on IN ('buyer', 'platform')),
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);
CREATE INDEX ticket_waits_ticket_idx ON ticket_waits (ticket_id, started_at);

-- Each service-level target a ticket was held to, recorded as it happens: when it was due
-- under the policy of that moment, and when it was met, breached, escalated or dropped
-- (the ticket settled first). A later policy change never rewrites these rows.
CREATE TABLE ticket_targets (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id          BIGINT NOT NULL REFERENCES shops (id),
    ticket_id        BIGINT NOT NULL REFERENCES tickets (id),
    target           TEXT NOT NULL CHECK (target IN ('first_call', 'follow_up', 'resolution')),
    clock            TEXT NOT NULL CHECK (clock IN ('business', 'calendar')),
    minutes          INTEGER NOT NULL,
    started_at       TIMESTAMP NOT NULL,
    -- NULL while the clock is stopped (the ticket waits on the buyer or the platform).
    due_at           TIMESTAMP,
    met_at           TIMESTAMP,
    breached_at      TIMESTAMP,
    warned_at        TIMESTAMP,
    escalated_at     TIMESTAMP,
    dropped_at       TIMESTAMP,
    -- Counted time from start to met (business seconds on a business clock, waits left out).
    counted_seconds  BIGINT,
    -- Whose ticket it was when the target was met or breached.
    agent_id         BIGINT REFERENCES users (id)
);
CREATE INDEX ticket_targets_ticket_idx ON ticket_targets (ticket_id, target);
-- The breach sweep and the "about to breach" list: pending targets by due time.
CREATE INDEX ticket_targets_pending_idx ON ticket_targets (due_at, shop_id)
    WHERE met_at IS NULL AND breached_at IS NULL AND dropped_at IS NULL AND due_at IS NOT NULL;
-- Reminders: the open tickets a breach escalated, for the leads.
CREATE INDEX ticket_targets_escalated_idx ON ticket_targets (shop_id, ticket_id)
    WHERE escalated_at IS NOT NULL;
-- Statistics: targets by when they started.
CREATE INDEX ticket_targets_shop_started_idx ON ticket_targets (shop_id, started_at);
