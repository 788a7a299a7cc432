-- Sales reports: an order may name the staff member who sold it and the outlet (a
-- physical store or a platform shop's name) it was sold through.
ALTER TABLE orders ADD COLUMN salesperson_id BIGINT REFERENCES users (id);
ALTER TABLE orders ADD COLUMN outlet TEXT;
-- The sales report reads a period of a shop's orders from this index alone (no table
-- lookups): the time, the buyer, the status and the amount.
CREATE INDEX orders_sales_idx ON orders (shop_id, ordered_at, customer_id, status, total_cents);

-- The product catalogue: order items refer to a product by its SKU (unique per shop).
-- usage_days: typical days until one purchase is used up (a 30-day face cream), NULL when
-- the product is not a consumable; it drives the "probably used up" reminder.
CREATE TABLE products (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    usage_days  INTEGER CHECK (usage_days BETWEEN 1 AND 3650),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (shop_id, sku);
-- The "probably used up" reminder walks the consumables of a shop.
CREATE INDEX products_usage_idx ON products (shop_id, usage_days) WHERE usage_days IS NOT NULL;
-- ...and the purchases of each of them, from the items naming its SKU.
CREATE INDEX order_items_sku_idx ON order_items (sku, order_id) WHERE sku IS NOT NULL;

-- Greeting occasions: holidays and shopping festivals the shop greets its buyers on. Lunar
-- holidays (春节, 中秋) move every year, so each entry is one dated day.
CREATE TABLE occasions (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    name        TEXT NOT NULL,
    day         DATE NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX occasions_name_day_key ON occasions (shop_id, day, name);

-- Defaults for 2026 and 2027, for every shop: the main public holidays and the shopping
-- festivals (520, 618, 双11, 双12). Admins edit the list.
INSERT INTO occasions (shop_id, name, day, created_at, updated_at)
SELECT s.id, v.name, CAST(v.day AS DATE), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM shops s CROSS JOIN (VALUES
    ('元旦', '2026-01-01'),
    ('春节', '2026-02-17'),
    ('元宵节', '2026-03-03'),
    ('妇女节', '2026-03-08'),
    ('520', '2026-05-20'),
    ('618', '2026-06-18'),
    ('端午节', '2026-06-19'),
    ('七夕', '2026-08-19'),
    ('中秋节', '2026-09-25'),
    ('国庆节', '2026-10-01'),
    ('双11', '2026-11-11'),
    ('双12', '2026-12-12'),
    ('圣诞节', '2026-12-25'),
    ('元旦', '2027-01-01'),
    ('春节', '2027-02-06'),
    ('元宵节', '2027-02-20'),
    ('妇女节', '2027-03-08'),
    ('520', '2027-05-20'),
    ('端午节', '2027-06-09'),
    ('618', '2027-06-18'),
    ('七夕', '2027-08-08'),
    ('中秋节', '2027-09-15'),
    ('国庆节', '2027-10-01'),
    ('双11', '2027-11-11'),
    ('双12', '2027-12-12'),
    ('圣诞节', '2027-12-25')
) AS v (name, day);
