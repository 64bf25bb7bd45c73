-- Figures about a customer kept by the service (not edited by clients, so they do not bump the
-- customer's version): what segments filter on besides the customer's own fields.
CREATE TABLE customer_stats (
    customer_id uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL,
    last_interaction_at timestamptz,
    lead_score integer
);
CREATE INDEX customer_stats_last_interaction ON customer_stats (workspace_id, last_interaction_at);
CREATE INDEX customer_stats_lead_score ON customer_stats (workspace_id, lead_score);

CREATE TABLE segments (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    name text NOT NULL,
    description text,
    filter jsonb NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX segments_live ON segments (workspace_id, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_industry ON customers (workspace_id, industry);
CREATE INDEX audit_events_entity_time ON audit_events (workspace_id, entity_type, entity_id, created_at, id);
