PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (channel IN (''taobao'', ''tmall'', ''jd'', ''pinduoduo'', ''douyin'', ''kuaishou'', ''xiaohongshu'', ''dianping'', ''wechat'', ''store'', ''other''))',
    'CHECK (channel IN (''taobao'', ''tmall'', ''wechat'', ''store'', ''other''))')
WHERE type = 'table' AND name = 'orders';
PRAGMA writable_schema = OFF;
CREATE TABLE schema_cookie_bump (x INTEGER);
DROP TABLE schema_cookie_bump;
