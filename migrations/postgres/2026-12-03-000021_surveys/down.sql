ALTER TABLE tickets DROP COLUMN satisfaction_reasons;
ALTER TABLE tickets DROP COLUMN satisfaction_source;
DROP TABLE surveys;
