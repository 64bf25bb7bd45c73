DROP TABLE deal_rollups;
