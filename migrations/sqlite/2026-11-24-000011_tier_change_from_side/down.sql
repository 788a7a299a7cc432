ALTER TABLE tier_changes DROP COLUMN from_computed_at;
ALTER TABLE tier_changes DROP COLUMN from_reasons;
