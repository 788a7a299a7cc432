-- A tier change records the standing it left as fully as the one it reached: the reasons
-- and computation time of the `from` side were not kept before.
ALTER TABLE tier_changes ADD COLUMN from_reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tier_changes ADD COLUMN from_computed_at TIMESTAMP;
-- Earlier rows: the best record of the standing left is the customer's previous change.
UPDATE tier_changes SET
    from_reasons = COALESCE((SELECT p.reasons FROM tier_changes p
        WHERE p.customer_id = tier_changes.customer_id AND p.id < tier_changes.id
        ORDER BY p.id DESC LIMIT 1), '[]'),
    from_computed_at = (SELECT p.created_at FROM tier_changes p
        WHERE p.customer_id = tier_changes.customer_id AND p.id < tier_changes.id
        ORDER BY p.id DESC LIMIT 1);
