-- Retention: the housekeeping loop deletes old webhook deliveries and events in bounded
-- batches, oldest first. These indexes let each batch find its rows without scanning the
-- tables, which grow with every event.
CREATE INDEX webhook_deliveries_delivered_idx ON webhook_deliveries (delivered_at, id)
    WHERE status = 'delivered';
CREATE INDEX webhook_deliveries_failed_idx ON webhook_deliveries (last_attempt_at, id)
    WHERE status = 'failed';
CREATE INDEX webhook_events_dispatched_idx ON webhook_events (dispatched_at, id)
    WHERE dispatched_at IS NOT NULL;
