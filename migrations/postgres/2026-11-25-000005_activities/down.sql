DROP TABLE tasks;
DROP TABLE interactions;
