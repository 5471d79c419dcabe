ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_channel_id_fkey
    FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE SET NULL;
