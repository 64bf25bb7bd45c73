-- Interactions: one row per contact on any channel. The customer timeline pages a customer's
-- interactions by (occurred_at, id), hence interactions_customer_occurred.
-- deal_id and lead_id carry no foreign key yet: those tables arrive on other branches.
CREATE TABLE interactions (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    channel text NOT NULL,
    direction text NOT NULL,
    subject text,
    body text,
    occurred_at timestamptz NOT NULL,
    duration_seconds integer,
    customer_id uuid REFERENCES customers (id),
    deal_id uuid,
    lead_id uuid,
    user_id uuid REFERENCES users (id),
    external_id text,
    metadata jsonb NOT NULL,
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX interactions_occurred ON interactions (workspace_id, occurred_at, id);
CREATE INDEX interactions_created ON interactions (workspace_id, created_at, id);
CREATE INDEX interactions_customer_occurred ON interactions (workspace_id, customer_id, occurred_at, id);
CREATE INDEX interactions_deal_occurred ON interactions (workspace_id, deal_id, occurred_at, id);
CREATE INDEX interactions_lead_occurred ON interactions (workspace_id, lead_id, occurred_at, id);
CREATE INDEX interactions_user_occurred ON interactions (workspace_id, user_id, occurred_at, id);
CREATE UNIQUE INDEX interactions_external_id ON interactions (workspace_id, external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;

-- Tasks. due_sort is due_at, or 9999-12-31T23:59:59Z when there is none, so that one
-- non-null keyset orders by due date with undated tasks last on both databases.
CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    title text NOT NULL,
    description text,
    due_at timestamptz,
    due_sort timestamptz NOT NULL,
    assignee_id uuid REFERENCES users (id),
    status text NOT NULL,
    priority text NOT NULL,
    progress integer NOT NULL,
    customer_id uuid REFERENCES customers (id),
    deal_id uuid,
    lead_id uuid,
    completed_at timestamptz,
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX tasks_assignee_status_due ON tasks (workspace_id, assignee_id, status, due_sort, id);
CREATE INDEX tasks_customer_created ON tasks (workspace_id, customer_id, created_at, id);
CREATE INDEX tasks_deal_created ON tasks (workspace_id, deal_id, created_at, id);
CREATE INDEX tasks_lead_created ON tasks (workspace_id, lead_id, created_at, id);
CREATE INDEX tasks_due ON tasks (workspace_id, due_sort, id);
CREATE INDEX tasks_created ON tasks (workspace_id, created_at, id);
CREATE INDEX tasks_updated ON tasks (workspace_id, updated_at, id);
