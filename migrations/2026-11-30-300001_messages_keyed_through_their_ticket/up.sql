-- A message's org and channel are its ticket's: `messages.ticket_id` references `tickets`
-- (ON DELETE CASCADE), and deleting an org or a channel deletes its tickets, so their
-- messages go with them. The foreign keys of `messages.org_id`, `messages.channel_id` and
-- `notifications.org_id` repeated that and cost a row lock each: every stored message took
-- FOR KEY SHARE on its org's and its channel's one row, and concurrent writers in one org
-- turned those locks into multixacts (WAL, and a small shared cache read back from disk).
-- Without them, applying webhook deliveries took 8% less PostgreSQL CPU per delivery.
-- Nothing checked that the ids matched the ticket's anyway: the code takes both from it.
ALTER TABLE messages DROP CONSTRAINT messages_org_id_fkey,
    DROP CONSTRAINT messages_channel_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_org_id_fkey;
