-- A merged duplicate is archived with a pointer to the customer it was merged into.
ALTER TABLE customers ADD COLUMN merged_into_id BIGINT REFERENCES customers (id);
