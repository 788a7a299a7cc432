DROP INDEX ticket_targets_breached_idx;
DROP INDEX tickets_order_idx;
