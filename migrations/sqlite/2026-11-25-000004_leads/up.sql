CREATE TABLE scoring_rules (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    field TEXT NOT NULL,
    operator TEXT NOT NULL,
    value TEXT,
    points INTEGER NOT NULL,
    description TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX scoring_rules_workspace ON scoring_rules (workspace_id, id);

CREATE TABLE web_forms (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    public_token TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL,
    field_mapping TEXT NOT NULL,
    default_owner_id TEXT REFERENCES users (id),
    default_tags TEXT NOT NULL,
    honeypot_field TEXT,
    active INTEGER NOT NULL,
    submission_count INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX web_forms_live_created ON web_forms (workspace_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    company_name TEXT,
    job_title TEXT,
    email TEXT,
    phone TEXT,
    website TEXT,
    industry TEXT,
    country TEXT,
    city TEXT,
    owner_id TEXT REFERENCES users (id),
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    form_data TEXT NOT NULL,
    tags TEXT NOT NULL,
    details TEXT NOT NULL,
    score INTEGER NOT NULL,
    score_reasons TEXT NOT NULL,
    web_form_id TEXT REFERENCES web_forms (id),
    converted_customer_id TEXT REFERENCES customers (id),
    converted_deal_id TEXT,
    converted_at TEXT,
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX leads_live_created ON leads (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_updated ON leads (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_live_score ON leads (workspace_id, score, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_deleted ON leads (workspace_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE UNIQUE INDEX leads_live_email ON leads (workspace_id, email) WHERE email IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX leads_owner ON leads (workspace_id, owner_id, created_at);
CREATE INDEX leads_web_form ON leads (workspace_id, web_form_id, created_at);
CREATE INDEX leads_status ON leads (workspace_id, status, created_at);

CREATE TABLE lead_tags (
    workspace_id TEXT NOT NULL,
    lead_id TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (lead_id, tag)
);
CREATE INDEX lead_tags_lookup ON lead_tags (workspace_id, tag, lead_id);

CREATE TABLE form_submissions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    web_form_id TEXT NOT NULL REFERENCES web_forms (id),
    lead_id TEXT REFERENCES leads (id),
    customer_id TEXT REFERENCES customers (id),
    payload TEXT NOT NULL,
    origin TEXT,
    ip TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX form_submissions_form ON form_submissions (workspace_id, web_form_id, id);
CREATE INDEX form_submissions_lead ON form_submissions (lead_id);
CREATE INDEX form_submissions_customer ON form_submissions (customer_id);
