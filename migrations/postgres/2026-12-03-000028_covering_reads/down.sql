DROP INDEX customer_sales_months_first_idx;
DROP INDEX tickets_order_idx;
CREATE INDEX tickets_order_idx ON tickets (order_id, id);
DROP INDEX orders_sales_idx;
CREATE INDEX orders_sales_idx ON orders (shop_id, ordered_at, customer_id, status, total_cents);
DROP INDEX tickets_customer_idx;
CREATE INDEX tickets_customer_idx ON tickets (customer_id, id);
DROP INDEX orders_customer_idx;
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at, id);
