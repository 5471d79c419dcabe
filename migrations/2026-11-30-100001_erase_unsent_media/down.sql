DROP TABLE media_erasures;
