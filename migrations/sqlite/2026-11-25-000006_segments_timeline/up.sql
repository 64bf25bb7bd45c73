-- Figures about a customer kept by the service (not edited by clients, so they do not bump the
-- customer's version): what segments filter on besides the customer's own fields.
CREATE TABLE customer_stats (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    last_interaction_at TEXT,
    lead_score INTEGER
);
CREATE INDEX customer_stats_last_interaction ON customer_stats (workspace_id, last_interaction_at);
CREATE INDEX customer_stats_lead_score ON customer_stats (workspace_id, lead_score);

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    description TEXT,
    filter TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX segments_live ON segments (workspace_id, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_industry ON customers (workspace_id, industry);
CREATE INDEX audit_events_entity_time ON audit_events (workspace_id, entity_type, entity_id, created_at, id);
