DROP TABLE job_leases;
DROP TABLE rewards;
DROP TABLE loyalty_lots;
DROP TABLE loyalty_ledger;
DROP TABLE loyalty_accounts;
DROP TABLE loyalty_programs;
