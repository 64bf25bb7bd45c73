CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    last_login_at timestamptz,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX users_workspace_created ON users (workspace_id, created_at, id);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    scopes jsonb NOT NULL,
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX api_keys_workspace_created ON api_keys (workspace_id, created_at, id);

CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    user_id uuid NOT NULL REFERENCES users (id),
    family_id uuid NOT NULL,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE customers (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    kind text NOT NULL,
    first_name text,
    last_name text,
    company_name text,
    email text,
    phone text,
    address_line1 text,
    address_line2 text,
    address_city text,
    address_region text,
    address_postal_code text,
    address_country text,
    social jsonb NOT NULL,
    lifecycle_stage text NOT NULL,
    owner_id uuid REFERENCES users (id),
    tags jsonb NOT NULL,
    important_dates jsonb NOT NULL,
    custom_fields jsonb NOT NULL,
    consents jsonb NOT NULL,
    industry text,
    vat_number text,
    registration_number text,
    website text,
    employee_count integer,
    company_id uuid REFERENCES customers (id),
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX customers_live_created ON customers (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_live_updated ON customers (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_deleted ON customers (workspace_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX customers_email ON customers (workspace_id, email);
CREATE INDEX customers_owner ON customers (workspace_id, owner_id, created_at);
CREATE INDEX customers_company ON customers (company_id);

CREATE TABLE customer_tags (
    workspace_id uuid NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tag text NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_lookup ON customer_tags (workspace_id, tag, customer_id);

CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    entity_type text NOT NULL,
    entity_id uuid NOT NULL,
    action text NOT NULL,
    actor_type text NOT NULL,
    actor_id uuid,
    changes jsonb NOT NULL,
    request_id text,
    created_at timestamptz NOT NULL
);
CREATE INDEX audit_events_entity ON audit_events (workspace_id, entity_type, entity_id, id);

CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL,
    caller text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status_code integer,
    response_body text,
    response_headers jsonb,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
