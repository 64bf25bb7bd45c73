-- Pipelines of ordered stages, deals that move through them, and every move.
CREATE TABLE pipelines (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    name text NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX pipelines_workspace_created ON pipelines (workspace_id, created_at, id);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (workspace_id) WHERE is_default;

CREATE TABLE pipeline_stages (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name text NOT NULL,
    position integer NOT NULL,
    win_probability integer NOT NULL CHECK (win_probability BETWEEN 0 AND 100),
    kind text NOT NULL
);
CREATE INDEX pipeline_stages_pipeline ON pipeline_stages (pipeline_id, position);

CREATE TABLE deals (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    title text NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers (id),
    pipeline_id uuid NOT NULL REFERENCES pipelines (id),
    stage_id uuid NOT NULL REFERENCES pipeline_stages (id),
    status text NOT NULL,
    amount_minor bigint NOT NULL DEFAULT 0,
    currency text,
    expected_close_date date,
    owner_id uuid REFERENCES users (id),
    lost_reason text,
    closed_at timestamptz,
    stage_entered_at timestamptz NOT NULL,
    tags jsonb NOT NULL,
    custom_fields jsonb NOT NULL,
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
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
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    deal_id uuid NOT NULL REFERENCES deals (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    from_stage_id uuid,
    to_stage_id uuid NOT NULL,
    at timestamptz NOT NULL,
    actor_type text NOT NULL,
    actor_id uuid
);
CREATE INDEX deal_stage_changes_deal ON deal_stage_changes (workspace_id, deal_id, id);
CREATE INDEX deal_stage_changes_customer ON deal_stage_changes (workspace_id, customer_id, at, id);
