DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP INDEX audit_log_shop_actor_idx;
ALTER TABLE audit_log DROP COLUMN address;
