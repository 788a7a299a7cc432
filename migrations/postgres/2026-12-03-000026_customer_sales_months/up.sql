-- The sales report's month view, kept per buyer: for each month (in China Standard Time,
-- UTC+08:00, the reports' default offset) in which a customer placed a paid, partially
-- refunded or refunded order, how many purchases (paid and partially refunded orders) they
-- made, what those orders brought in and what fully refunded orders gave back, and whether
-- the month holds their first purchase ever. It follows every order change in the same
-- transaction (`orders::store::refresh_summary`), so a year by month reads about one row
-- per buyer and month instead of every order. Partial refunds depend on tickets and are
-- read from the orders (next index).
CREATE TABLE customer_sales_months (
    shop_id         BIGINT NOT NULL REFERENCES shops (id),
    month           DATE NOT NULL,
    customer_id     BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purchases       INTEGER NOT NULL,
    gross_cents     BIGINT NOT NULL,
    refunded_cents  BIGINT NOT NULL,
    first_purchase  BOOLEAN NOT NULL,
    PRIMARY KEY (shop_id, month, customer_id)
);
CREATE INDEX customer_sales_months_customer_idx ON customer_sales_months (customer_id);
-- Covering: the partial refunds of a period are read from this index alone, each order's
-- tickets then looked up by tickets_order_idx.
CREATE INDEX orders_partially_refunded_idx ON orders (shop_id, ordered_at, id, total_cents)
    WHERE status = 'partially_refunded';

INSERT INTO customer_sales_months
    (shop_id, month, customer_id, purchases, gross_cents, refunded_cents, first_purchase)
SELECT o.shop_id, CAST(date_trunc('month', o.ordered_at + INTERVAL '480 minutes') AS DATE), o.customer_id,
       SUM(CASE WHEN o.status IN ('paid', 'partially_refunded') THEN 1 ELSE 0 END),
       CAST(LEAST(SUM(o.total_cents), 9223372036854775807) AS BIGINT),
       CAST(LEAST(SUM(CASE WHEN o.status = 'refunded' THEN o.total_cents ELSE 0 END),
                9223372036854775807) AS BIGINT),
       FALSE
FROM orders o
WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
GROUP BY 1, 2, 3;
UPDATE customer_sales_months SET first_purchase = TRUE
FROM customers c
WHERE c.id = customer_sales_months.customer_id AND c.first_order_at IS NOT NULL
  AND customer_sales_months.month = CAST(date_trunc('month', c.first_order_at + INTERVAL '480 minutes') AS DATE);
