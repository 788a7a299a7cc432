DROP TABLE occasions;
DROP TABLE products;
DROP INDEX order_items_sku_idx;
DROP INDEX orders_sales_idx;
ALTER TABLE orders DROP COLUMN outlet;
ALTER TABLE orders DROP COLUMN salesperson_id;
