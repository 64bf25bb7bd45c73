-- Interactions: one row per contact on any channel. The customer timeline pages a customer's
-- interactions by (occurred_at, id), hence interactions_customer_occurred.
-- deal_id and lead_id carry no foreign key yet: those tables arrive on other branches.
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    subject TEXT,
    body TEXT,
    occurred_at TEXT NOT NULL,
    duration_seconds INTEGER,
    customer_id TEXT REFERENCES customers (id),
    deal_id TEXT,
    lead_id TEXT,
    user_id TEXT REFERENCES users (id),
    external_id TEXT,
    metadata TEXT NOT NULL,
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
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
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    title TEXT NOT NULL,
    description TEXT,
    due_at TEXT,
    due_sort TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    progress INTEGER NOT NULL,
    customer_id TEXT REFERENCES customers (id),
    deal_id TEXT,
    lead_id TEXT,
    completed_at TEXT,
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX tasks_assignee_status_due ON tasks (workspace_id, assignee_id, status, due_sort, id);
CREATE INDEX tasks_customer_created ON tasks (workspace_id, customer_id, created_at, id);
CREATE INDEX tasks_deal_created ON tasks (workspace_id, deal_id, created_at, id);
CREATE INDEX tasks_lead_created ON tasks (workspace_id, lead_id, created_at, id);
CREATE INDEX tasks_due ON tasks (workspace_id, due_sort, id);
CREATE INDEX tasks_created ON tasks (workspace_id, created_at, id);
CREATE INDEX tasks_updated ON tasks (workspace_id, updated_at, id);
