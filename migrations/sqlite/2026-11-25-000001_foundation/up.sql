CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    last_login_at TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX users_workspace_created ON users (workspace_id, created_at, id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    revoked_at TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX api_keys_workspace_created ON api_keys (workspace_id, created_at, id);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    company_name TEXT,
    email TEXT,
    phone TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    address_city TEXT,
    address_region TEXT,
    address_postal_code TEXT,
    address_country TEXT,
    social TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL,
    owner_id TEXT REFERENCES users (id),
    tags TEXT NOT NULL,
    important_dates TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    consents TEXT NOT NULL,
    industry TEXT,
    vat_number TEXT,
    registration_number TEXT,
    website TEXT,
    employee_count INTEGER,
    company_id TEXT REFERENCES customers (id),
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX customers_live_created ON customers (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_live_updated ON customers (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_deleted ON customers (workspace_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX customers_email ON customers (workspace_id, email);
CREATE INDEX customers_owner ON customers (workspace_id, owner_id, created_at);
CREATE INDEX customers_company ON customers (company_id);

CREATE TABLE customer_tags (
    workspace_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_lookup ON customer_tags (workspace_id, tag, customer_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    changes TEXT NOT NULL,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_events_entity ON audit_events (workspace_id, entity_type, entity_id, id);

CREATE TABLE idempotency_keys (
    workspace_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    response_headers TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (workspace_id, caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
