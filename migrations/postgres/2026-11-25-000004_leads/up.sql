CREATE TABLE scoring_rules (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    field text NOT NULL,
    operator text NOT NULL,
    value jsonb,
    points integer NOT NULL,
    description text,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX scoring_rules_workspace ON scoring_rules (workspace_id, id);

CREATE TABLE web_forms (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    name text NOT NULL,
    public_token text NOT NULL UNIQUE,
    allowed_origins jsonb NOT NULL,
    field_mapping jsonb NOT NULL,
    default_owner_id uuid REFERENCES users (id),
    default_tags jsonb NOT NULL,
    honeypot_field text,
    active boolean NOT NULL,
    submission_count bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX web_forms_live_created ON web_forms (workspace_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE leads (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    source text NOT NULL,
    status text NOT NULL,
    first_name text,
    last_name text,
    company_name text,
    job_title text,
    email text,
    phone text,
    website text,
    industry text,
    country text,
    city text,
    owner_id uuid REFERENCES users (id),
    utm_source text,
    utm_medium text,
    utm_campaign text,
    form_data jsonb NOT NULL,
    tags jsonb NOT NULL,
    details jsonb NOT NULL,
    score integer NOT NULL,
    score_reasons jsonb NOT NULL,
    web_form_id uuid REFERENCES web_forms (id),
    converted_customer_id uuid REFERENCES customers (id),
    converted_deal_id uuid,
    converted_at timestamptz,
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
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
    workspace_id uuid NOT NULL,
    lead_id uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    tag text NOT NULL,
    PRIMARY KEY (lead_id, tag)
);
CREATE INDEX lead_tags_lookup ON lead_tags (workspace_id, tag, lead_id);

CREATE TABLE form_submissions (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    web_form_id uuid NOT NULL REFERENCES web_forms (id),
    lead_id uuid REFERENCES leads (id),
    customer_id uuid REFERENCES customers (id),
    payload jsonb NOT NULL,
    origin text,
    ip text,
    user_agent text,
    created_at timestamptz NOT NULL
);
CREATE INDEX form_submissions_form ON form_submissions (workspace_id, web_form_id, id);
CREATE INDEX form_submissions_lead ON form_submissions (lead_id);
CREATE INDEX form_submissions_customer ON form_submissions (customer_id);
