DROP INDEX ticket_targets_pending_idx;
CREATE INDEX ticket_targets_pending_idx ON ticket_targets (due_at, shop_id)
    WHERE met_at IS NULL AND breached_at IS NULL AND dropped_at IS NULL AND due_at IS NOT NULL;
