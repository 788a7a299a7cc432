-- The audit trail covers security-relevant actions (logins, role and password changes, API
-- keys, webhooks, imports, bulk changes), each with the client address it came from. The log
-- is append-only: the database itself refuses to change or delete an entry.
ALTER TABLE audit_log ADD COLUMN address TEXT;
CREATE INDEX audit_log_shop_actor_idx ON audit_log (shop_id, actor, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
