DROP TABLE events;
DROP TABLE org_event_seqs;
