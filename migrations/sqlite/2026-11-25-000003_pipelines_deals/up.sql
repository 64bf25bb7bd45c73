-- Pipelines of ordered stages, deals that move through them, and every move.
CREATE TABLE pipelines (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX pipelines_workspace_created ON pipelines (workspace_id, created_at, id);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (workspace_id) WHERE is_default = 1;

CREATE TABLE pipeline_stages (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    win_probability INTEGER NOT NULL CHECK (win_probability BETWEEN 0 AND 100),
    kind TEXT NOT NULL
);
CREATE INDEX pipeline_stages_pipeline ON pipeline_stages (pipeline_id, position);

CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    title TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
    stage_id TEXT NOT NULL REFERENCES pipeline_stages (id),
    status TEXT NOT NULL,
    amount_minor INTEGER NOT NULL DEFAULT 0,
    currency TEXT,
    expected_close_date TEXT,
    owner_id TEXT REFERENCES users (id),
    lost_reason TEXT,
    closed_at TEXT,
    stage_entered_at TEXT NOT NULL,
    tags TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX deals_live_created ON deals (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_live_updated ON deals (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_live_amount ON deals (workspace_id, amount_minor, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_live_close_date ON deals (workspace_id, expected_close_date, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_live_closed ON deals (workspace_id, status, closed_at) WHERE deleted_at IS NULL;
CREATE INDEX deals_deleted ON deals (workspace_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX deals_stage ON deals (stage_id, status, updated_at, id);
CREATE INDEX deals_pipeline ON deals (workspace_id, pipeline_id, status);
CREATE INDEX deals_customer ON deals (workspace_id, customer_id, created_at);
CREATE INDEX deals_owner ON deals (workspace_id, owner_id, created_at);

CREATE TABLE deal_stage_changes (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    deal_id TEXT NOT NULL REFERENCES deals (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    from_stage_id TEXT,
    to_stage_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT
);
CREATE INDEX deal_stage_changes_deal ON deal_stage_changes (workspace_id, deal_id, id);
CREATE INDEX deal_stage_changes_customer ON deal_stage_changes (workspace_id, customer_id, at, id);
