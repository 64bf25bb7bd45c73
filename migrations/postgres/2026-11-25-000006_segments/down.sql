DROP INDEX customers_industry;
DROP TABLE segments;
DROP TABLE customer_stats;
