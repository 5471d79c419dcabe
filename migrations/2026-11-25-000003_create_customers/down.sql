DROP TABLE customer_identities;
DROP TABLE customers;
