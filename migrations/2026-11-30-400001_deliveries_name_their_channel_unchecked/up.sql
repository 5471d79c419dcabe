-- A stored delivery's channel_id only says which channel's URL received it, for the logs:
-- the processor routes each entry by its account id and the secret that verified the
-- delivery, and skips an entry whose channel is gone. The foreign key checked every stored
-- delivery against `channels`, taking FOR KEY SHARE on the channel's one row per row, and
-- the webhook route's concurrent committers turned those locks into multixacts. Channels
-- are soft-deleted (`deleted_at`) and never removed, so its ON DELETE SET NULL never ran.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_channel_id_fkey;
