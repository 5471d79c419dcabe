-- Stored copies whose message was unsent, waiting for the media worker to delete their
-- bytes from the object store. The copy's `media_objects` row and its share of the org's
-- usage go in the unsend's own transaction; the bytes go after it, from this queue, so a
-- crash between the two only delays the erasure. No foreign key: the row must outlive
-- the org to erase its bytes.
CREATE TABLE media_erasures (
    storage_key text PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE media_erasures ENABLE ROW LEVEL SECURITY;
CREATE POLICY system_only ON media_erasures TO delightchat_app USING (app_is_system());
