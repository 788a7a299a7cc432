CREATE TABLE customers (
    id                  BIGSERIAL PRIMARY KEY,
    shop_id             BIGINT NOT NULL REFERENCES shops (id),
    name                TEXT NOT NULL,
    -- Lower-cased name: case-insensitive prefix search by index range. Byte order ("C")
    -- so that ranges and sorting behave as in SQLite, whatever the database's locale.
    name_key            TEXT COLLATE "C" NOT NULL,
    address             TEXT,
    birthday            DATE,
    -- Month * 100 + day of the birthday, so "birthday within N days" is an index range.
    birthday_mmdd       INTEGER,
    source              TEXT NOT NULL CHECK (source IN ('in_store', 'online')),
    notes               TEXT NOT NULL DEFAULT '',
    -- Kept current with every order change, for filters and the customer view.
    order_count         BIGINT NOT NULL DEFAULT 0,
    total_spent_cents   BIGINT NOT NULL DEFAULT 0,
    first_order_at      TIMESTAMP,
    last_order_at       TIMESTAMP,
    -- Stamped by every contact attempt logged on the customer's tickets.
    last_contacted_at   TIMESTAMP,
    archived_at         TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX customers_shop_id_idx ON customers (shop_id, id) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_name_idx ON customers (shop_id, name_key, id) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_source_idx ON customers (shop_id, source, id) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_last_order_idx ON customers (shop_id, last_order_at) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_last_contact_idx ON customers (shop_id, last_contacted_at) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_birthday_idx ON customers (shop_id, birthday_mmdd) WHERE archived_at IS NULL;
CREATE INDEX customers_shop_archived_idx ON customers (shop_id, archived_at, id);

CREATE TABLE customer_contacts (
    id           BIGSERIAL PRIMARY KEY,
    shop_id      BIGINT NOT NULL REFERENCES shops (id),
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('phone', 'wechat', 'shop_account', 'email')),
    -- Normalised (phone digits, lower-cased email) so one buyer cannot be entered twice.
    value        TEXT COLLATE "C" NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX customer_contacts_handle_key ON customer_contacts (shop_id, kind, value);
CREATE INDEX customer_contacts_value_idx ON customer_contacts (shop_id, value);
CREATE INDEX customer_contacts_customer_idx ON customer_contacts (customer_id);

CREATE TABLE tags (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    name        TEXT COLLATE "C" NOT NULL,
    -- A dimension such as region, interest, source; NULL for plain labels.
    tag_group   TEXT,
    created_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tags_shop_name_key ON tags (shop_id, name);

CREATE TABLE customer_tags (
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tag_id       BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (customer_id, tag_id)
);
CREATE INDEX customer_tags_tag_idx ON customer_tags (tag_id, customer_id);

CREATE TABLE orders (
    id                 BIGSERIAL PRIMARY KEY,
    shop_id            BIGINT NOT NULL REFERENCES shops (id),
    customer_id        BIGINT NOT NULL REFERENCES customers (id),
    channel            TEXT NOT NULL CHECK (channel IN ('taobao', 'tmall', 'wechat', 'store', 'other')),
    external_order_no  TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('paid', 'refunded', 'partially_refunded', 'cancelled')),
    -- Money is integer cents (fen): never floating point.
    total_cents        BIGINT NOT NULL CHECK (total_cents >= 0),
    ordered_at         TIMESTAMP NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX orders_external_key ON orders (shop_id, channel, external_order_no);
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at, id);

CREATE TABLE order_items (
    id                BIGSERIAL PRIMARY KEY,
    order_id          BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_name      TEXT NOT NULL,
    sku               TEXT,
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents  BIGINT NOT NULL CHECK (unit_price_cents >= 0)
);
CREATE INDEX order_items_order_idx ON order_items (order_id);
