DROP TABLE users;
DROP TABLE shops;
