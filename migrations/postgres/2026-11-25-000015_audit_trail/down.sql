DROP TRIGGER audit_log_append_only ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP INDEX audit_log_shop_actor_idx;
ALTER TABLE audit_log DROP COLUMN address;
