-- One channel vocabulary for orders and reviews (jd, pinduoduo, douyin, kuaishou,
-- xiaohongshu and dianping join taobao, tmall, wechat, store and other), so that a review
-- on a platform can link an order from the same platform.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `orders` would cascade into its
-- items (ON DELETE CASCADE) and trip the tickets' references. Widening a CHECK changes no
-- stored row, so the table's definition is edited in place, the procedure SQLite documents
-- for such changes ("Making Other Kinds Of Table Schema Changes"); the CREATE/DROP after it
-- bumps the schema cookie so that every open connection re-reads the definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (channel IN (''taobao'', ''tmall'', ''wechat'', ''store'', ''other''))',
    'CHECK (channel IN (''taobao'', ''tmall'', ''jd'', ''pinduoduo'', ''douyin'', ''kuaishou'', ''xiaohongshu'', ''dianping'', ''wechat'', ''store'', ''other''))')
WHERE type = 'table' AND name = 'orders';
PRAGMA writable_schema = OFF;
CREATE TABLE schema_cookie_bump (x INTEGER);
DROP TABLE schema_cookie_bump;
