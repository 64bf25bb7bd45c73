DROP TABLE form_submissions;
DROP TABLE lead_tags;
DROP TABLE leads;
DROP TABLE web_forms;
DROP TABLE scoring_rules;
