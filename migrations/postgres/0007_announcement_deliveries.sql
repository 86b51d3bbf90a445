-- An announcement counts as posted only when every platform it goes to said so. Each
-- channel's delivery is recorded as the platform accepts it; `posted_at` is set when
-- all are in. A poster claims an announcement for a while (`claimed_until`): if it
-- dies mid-way, the claim lapses and the sweeper delivers what is missing.
CREATE TABLE announcement_deliveries (
    announcement_id BIGINT NOT NULL REFERENCES announcements (id),
    channel_ref     TEXT   NOT NULL,
    delivered_at    BIGINT NOT NULL,
    PRIMARY KEY (announcement_id, channel_ref)
);
ALTER TABLE announcements ADD COLUMN claimed_until BIGINT;
