-- The audit trail covers security-relevant actions (logins, role and password changes, API
-- keys, webhooks, imports, bulk changes), each with the client address it came from. The log
-- is append-only: the database itself refuses to change or delete an entry.
ALTER TABLE audit_log ADD COLUMN address TEXT;
CREATE INDEX audit_log_shop_actor_idx ON audit_log (shop_id, actor, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
