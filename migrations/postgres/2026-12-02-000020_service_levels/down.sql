DROP TABLE ticket_targets;
DROP TABLE ticket_waits;
ALTER TABLE tickets DROP COLUMN platform_deadline_at;
ALTER TABLE tickets DROP COLUMN waiting_since;
ALTER TABLE tickets DROP COLUMN waiting_on;
DROP TABLE sla_settings;
