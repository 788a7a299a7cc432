ALTER TABLE orders DROP CONSTRAINT orders_channel_check;
ALTER TABLE orders ADD CONSTRAINT orders_channel_check
    CHECK (channel IN ('taobao', 'tmall', 'wechat', 'store', 'other'));
