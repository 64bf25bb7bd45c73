DROP INDEX audit_events_entity_time;
DROP INDEX customers_industry;
DROP TABLE segments;
DROP TABLE customer_stats;
