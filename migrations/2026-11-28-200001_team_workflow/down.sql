DELETE FROM notifications WHERE type = 'MENTION';
ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check
    CHECK (type IN ('NEW_MESSAGE', 'NEW_COMMENT', 'ASSIGNED'));
DROP TABLE canned_responses;
ALTER TABLE customers DROP COLUMN blocked_by, DROP COLUMN blocked_at;
UPDATE tickets SET status = 'OPEN' WHERE status = 'SNOOZED';
ALTER TABLE tickets DROP CONSTRAINT tickets_snooze_check;
ALTER TABLE tickets DROP COLUMN snoozed_until, DROP COLUMN waiting_since, DROP COLUMN last_response_at,
    DROP COLUMN first_response_at, DROP COLUMN resolved_at;
DROP TABLE customer_labels;
DROP TABLE ticket_labels;
DROP TABLE labels;
