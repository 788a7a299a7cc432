DROP INDEX tags_shop_group_idx;
DROP INDEX tags_shop_name_key_key;
CREATE UNIQUE INDEX tags_shop_name_key ON tags (shop_id, name);
ALTER TABLE tags DROP COLUMN name_key;
DROP TABLE tag_groups;
DROP TABLE rfm_runs;
DROP TABLE rfm_segment_changes;
DROP TABLE customer_rfm;
