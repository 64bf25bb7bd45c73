-- The loyalty program of each workspace, each customer's points account, its append-only
-- ledger, the lots earned points live in until spent or expired, the rewards catalogue, and
-- the leases that let one API node at a time run background work.
-- Invariants (checked by GET /v1/loyalty/audit): for every account, balance = sum of its
-- ledger's points = sum of its lots' remaining points, and each entry's balance_after is the
-- previous entry's balance_after plus its points, seq counting up from 1 without gaps.

-- Missing row: no program (nothing is earned). tiers and category_multipliers are validated
-- in crm-domain (ascending thresholds, percentages).
CREATE TABLE loyalty_programs (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces (id),
    active boolean NOT NULL,
    currency text NOT NULL,
    points_per_unit bigint NOT NULL CHECK (points_per_unit > 0),
    unit_minor bigint NOT NULL CHECK (unit_minor > 0),
    category_multipliers jsonb NOT NULL,
    expiry_months integer CHECK (expiry_months > 0),
    tiers jsonb NOT NULL,
    welcome_bonus bigint NOT NULL CHECK (welcome_bonus >= 0),
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Opened at a customer's first points write. Every ledger write updates this row first, so
-- on PostgreSQL its row lock serializes the writers of one customer.
CREATE TABLE loyalty_accounts (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    balance bigint NOT NULL CHECK (balance >= 0),
    last_seq bigint NOT NULL CHECK (last_seq >= 0),
    welcome_granted boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX loyalty_accounts_workspace ON loyalty_accounts (workspace_id, customer_id);

-- kind: earn | redeem | adjust | expire | reverse. tier_points is what the entry adds to the
-- points that qualify for tiers (purchase earnings, their reversals, adjustments marked so).
CREATE TABLE loyalty_ledger (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    customer_id uuid NOT NULL REFERENCES loyalty_accounts (customer_id),
    seq bigint NOT NULL,
    kind text NOT NULL,
    points bigint NOT NULL,
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    tier_points bigint NOT NULL,
    reference_type text,
    reference_id uuid,
    reason text,
    expires_at timestamptz,
    actor_type text NOT NULL,
    actor_id uuid,
    created_at timestamptz NOT NULL,
    UNIQUE (customer_id, seq)
);
CREATE INDEX loyalty_ledger_timeline ON loyalty_ledger (workspace_id, customer_id, created_at, id);
CREATE INDEX loyalty_ledger_reference ON loyalty_ledger (customer_id, reference_type, reference_id)
    WHERE reference_id IS NOT NULL;

-- One lot per crediting entry (earn, positive adjust). expires_sort is expires_at, or
-- 9999-12-31 for points that never expire, so one ascending index gives the FIFO order:
-- soonest expiry first, then oldest.
CREATE TABLE loyalty_lots (
    entry_id uuid PRIMARY KEY REFERENCES loyalty_ledger (id),
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    customer_id uuid NOT NULL REFERENCES loyalty_accounts (customer_id),
    points bigint NOT NULL CHECK (points > 0),
    remaining bigint NOT NULL CHECK (remaining BETWEEN 0 AND points),
    expires_at timestamptz,
    expires_sort timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX loyalty_lots_fifo ON loyalty_lots (customer_id, expires_sort, created_at, entry_id)
    WHERE remaining > 0;
CREATE INDEX loyalty_lots_due ON loyalty_lots (expires_sort, customer_id) WHERE remaining > 0;
CREATE INDEX loyalty_lots_workspace ON loyalty_lots (workspace_id, customer_id);

-- stock NULL: unlimited.
CREATE TABLE rewards (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    name text NOT NULL,
    description text,
    cost_points bigint NOT NULL CHECK (cost_points > 0),
    stock bigint CHECK (stock >= 0),
    active boolean NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX rewards_created ON rewards (workspace_id, created_at, id);

-- A named job runs on the node holding its lease until locked_until.
CREATE TABLE job_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    locked_until timestamptz NOT NULL
);
