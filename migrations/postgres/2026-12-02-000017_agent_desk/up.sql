-- The agent's desk: search that matches how staff ask, names without a request per row,
-- and internal notes.

-- A phone's digits reversed: "ends in 8000" becomes the index prefix "0008".
ALTER TABLE customer_contacts ADD COLUMN tail_key TEXT COLLATE "C";
-- Filled at start-up with the search index, as on SQLite (one rule in one place).
CREATE INDEX customer_contacts_tail_idx ON customer_contacts (shop_id, tail_key, customer_id)
    WHERE tail_key IS NOT NULL;

-- The first phone handle, kept by the handle writes, so lists show a masked number
-- without a second look-up per row.
ALTER TABLE customers ADD COLUMN primary_phone TEXT;
UPDATE customers SET primary_phone = (
    SELECT value FROM customer_contacts
    WHERE customer_id = customers.id AND kind = 'phone'
    ORDER BY id LIMIT 1);

-- Exact look-ups by what the buyer quotes: an order number, a review id.
CREATE INDEX orders_shop_external_no_idx ON orders (shop_id, external_order_no);
CREATE INDEX tickets_shop_review_id_idx ON tickets (shop_id, review_external_id)
    WHERE review_external_id IS NOT NULL;

-- Substring search: each entity's distinct character unigrams and bigrams (names,
-- nicknames) or bigrams (ticket text), written in the same transaction as the text.
-- Walked in id order, newest first, so a page stops after its rows.
CREATE TABLE customer_search_grams (
    shop_id     BIGINT NOT NULL,
    gram        TEXT COLLATE "C" NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (shop_id, gram, customer_id)
);
CREATE INDEX customer_search_grams_customer_idx ON customer_search_grams (customer_id);

CREATE TABLE ticket_search_grams (
    shop_id   BIGINT NOT NULL,
    gram      TEXT COLLATE "C" NOT NULL,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    PRIMARY KEY (shop_id, gram, ticket_id)
);
CREATE INDEX ticket_search_grams_ticket_idx ON ticket_search_grams (ticket_id);

-- Which version of the gram rules the tables hold; the server rebuilds them at start-up
-- when the code's version is newer (and, the first time, for rows written before them).
CREATE TABLE search_index_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO search_index_state (id, version) VALUES (1, 0);

-- Internal notes on a customer, or on one of their tickets. Editable by the author for a
-- short while; every earlier text is kept in `edits`.
CREATE TABLE notes (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    ticket_id   BIGINT REFERENCES tickets (id),
    author_id   BIGINT REFERENCES users (id),
    body        TEXT NOT NULL,
    edits       TEXT NOT NULL DEFAULT '[]',
    created_at  TIMESTAMP NOT NULL,
    edited_at   TIMESTAMP
);
CREATE INDEX notes_customer_idx ON notes (customer_id, id);
CREATE INDEX notes_ticket_idx ON notes (ticket_id, id) WHERE ticket_id IS NOT NULL;
