DROP TABLE whatsapp_templates;
ALTER TABLE channels DROP COLUMN business_account_id;
