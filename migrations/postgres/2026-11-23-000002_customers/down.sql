DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE customer_tags;
DROP TABLE tags;
DROP TABLE customer_contacts;
DROP TABLE customers;
