DROP TABLE ticket_reads;
DROP TABLE reactions;
DROP TABLE attachments;
ALTER TABLE tickets DROP CONSTRAINT tickets_last_message_fk;
DROP TABLE messages;
DROP TABLE tickets;
