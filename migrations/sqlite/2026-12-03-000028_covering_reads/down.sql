DROP INDEX tickets_customer_idx;
CREATE INDEX tickets_customer_idx ON tickets (customer_id, id);
DROP INDEX orders_customer_idx;
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at, id);
