DROP TABLE profile_jobs;
ALTER TABLE customer_identities
    DROP COLUMN profile_pic_url, DROP COLUMN is_verified, DROP COLUMN follower_count,
    DROP COLUMN profile_fetched_at;
ALTER TABLE customers DROP COLUMN name_source;
