DROP INDEX purchases_analytics;
