-- One channel vocabulary for orders and reviews (jd, pinduoduo, douyin, kuaishou,
-- xiaohongshu and dianping join taobao, tmall, wechat, store and other), so that a review
-- on a platform can link an order from the same platform.
ALTER TABLE orders DROP CONSTRAINT orders_channel_check;
ALTER TABLE orders ADD CONSTRAINT orders_channel_check CHECK (channel IN (
    'taobao', 'tmall', 'jd', 'pinduoduo', 'douyin', 'kuaishou', 'xiaohongshu', 'dianping',
    'wechat', 'store', 'other'));
