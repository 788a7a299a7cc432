DROP INDEX orders_partially_refunded_idx;
DROP TABLE customer_sales_months;
