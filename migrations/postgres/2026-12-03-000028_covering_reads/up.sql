-- Reads that ran over scattered table pages, served from an index alone (index-only).
--
-- A tier and RFM assessment reads every ticket and purchase of a batch of customers. A
-- shop's tickets (and, in a live shop, its orders) arrive interleaved, so a batch's rows
-- lie on thousands of table pages. With the facts in the customer's index they are one
-- contiguous range of it. Each index replaces the narrower one of the same name (same
-- key): wider entries, and an update of an included column (a survey answer's
-- satisfaction) is no longer a HOT update.
DROP INDEX tickets_customer_idx;
CREATE INDEX tickets_customer_idx ON tickets (customer_id, id)
    INCLUDE (kind, state, outcome, close_reason, satisfaction_score, satisfaction_at,
             resolved_at, closed_at, created_at, order_id, refund_cents);
DROP INDEX orders_customer_idx;
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at, id)
    INCLUDE (status, total_cents);
-- A sales report over the orders of a period also needs each order's id (its refunds by
-- ticket); with it the period's orders come from the index (SQLite's indexes hold the
-- rowid, the id, already). At 2,000,000 orders, a 28-day cut month read 10,604 table
-- pages; now 625 index pages.
DROP INDEX orders_sales_idx;
CREATE INDEX orders_sales_idx ON orders (shop_id, ordered_at, customer_id, status, total_cents)
    INCLUDE (id);
-- An order's refunds by ticket (resolved tickets' refund amounts), from the index.
DROP INDEX tickets_order_idx;
CREATE INDEX tickets_order_idx ON tickets (order_id, id) INCLUDE (state, refund_cents);
-- The buyers whose first purchase falls in a month: what a report of a cut month (a rolling
-- year's first month) reads to tell new buyers, a few thousand rows instead of the month's
-- every row (scattered over the table: 16,115 pages at 200,000 buyers). SQLite keeps the
-- table in key order (WITHOUT ROWID), so a month is one range there already.
CREATE INDEX customer_sales_months_first_idx ON customer_sales_months (shop_id, month, customer_id)
    INCLUDE (purchases) WHERE first_purchase;
