ALTER TABLE messages ADD CONSTRAINT messages_org_id_fkey
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
    ADD CONSTRAINT messages_channel_id_fkey
        FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD CONSTRAINT notifications_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE;
