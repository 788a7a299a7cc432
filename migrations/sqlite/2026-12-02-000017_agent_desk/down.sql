DROP TABLE notes;
DROP TABLE search_index_state;
DROP TABLE ticket_search_grams;
DROP TABLE customer_search_grams;
DROP INDEX tickets_shop_review_id_idx;
DROP INDEX orders_shop_external_no_idx;
ALTER TABLE customers DROP COLUMN primary_phone;
DROP INDEX customer_contacts_tail_idx;
ALTER TABLE customer_contacts DROP COLUMN tail_key;
