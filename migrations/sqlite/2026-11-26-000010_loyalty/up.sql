-- The loyalty program of each workspace, each customer's points account, its append-only
-- ledger, the lots earned points live in until spent or expired, the rewards catalogue, and
-- the leases that let one API node at a time run background work.
-- Invariants (checked by GET /v1/loyalty/audit): for every account, balance = sum of its
-- ledger's points = sum of its lots' remaining points, and each entry's balance_after is the
-- previous entry's balance_after plus its points, seq counting up from 1 without gaps.

-- Missing row: no program (nothing is earned). tiers and category_multipliers are validated
-- in crm-domain (ascending thresholds, percentages).
CREATE TABLE loyalty_programs (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id),
    active INTEGER NOT NULL,
    currency TEXT NOT NULL,
    points_per_unit INTEGER NOT NULL CHECK (points_per_unit > 0),
    unit_minor INTEGER NOT NULL CHECK (unit_minor > 0),
    category_multipliers TEXT NOT NULL,
    expiry_months INTEGER CHECK (expiry_months > 0),
    tiers TEXT NOT NULL,
    welcome_bonus INTEGER NOT NULL CHECK (welcome_bonus >= 0),
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Opened at a customer's first points write. Every ledger write updates this row first, so
-- on PostgreSQL its row lock serializes the writers of one customer.
CREATE TABLE loyalty_accounts (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    balance INTEGER NOT NULL CHECK (balance >= 0),
    last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
    welcome_granted INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX loyalty_accounts_workspace ON loyalty_accounts (workspace_id, customer_id);

-- kind: earn | redeem | adjust | expire | reverse. tier_points is what the entry adds to the
-- points that qualify for tiers (purchase earnings, their reversals, adjustments marked so).
CREATE TABLE loyalty_ledger (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    customer_id TEXT NOT NULL REFERENCES loyalty_accounts (customer_id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    tier_points INTEGER NOT NULL,
    reference_type TEXT,
    reference_id TEXT,
    reason TEXT,
    expires_at TEXT,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (customer_id, seq)
);
CREATE INDEX loyalty_ledger_timeline ON loyalty_ledger (workspace_id, customer_id, created_at, id);
CREATE INDEX loyalty_ledger_reference ON loyalty_ledger (customer_id, reference_type, reference_id)
    WHERE reference_id IS NOT NULL;

-- One lot per crediting entry (earn, positive adjust). expires_sort is expires_at, or
-- 9999-12-31 for points that never expire, so one ascending index gives the FIFO order:
-- soonest expiry first, then oldest.
CREATE TABLE loyalty_lots (
    entry_id TEXT PRIMARY KEY REFERENCES loyalty_ledger (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    customer_id TEXT NOT NULL REFERENCES loyalty_accounts (customer_id),
    points INTEGER NOT NULL CHECK (points > 0),
    remaining INTEGER NOT NULL CHECK (remaining BETWEEN 0 AND points),
    expires_at TEXT,
    expires_sort TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX loyalty_lots_fifo ON loyalty_lots (customer_id, expires_sort, created_at, entry_id)
    WHERE remaining > 0;
CREATE INDEX loyalty_lots_due ON loyalty_lots (expires_sort, customer_id) WHERE remaining > 0;
CREATE INDEX loyalty_lots_workspace ON loyalty_lots (workspace_id, customer_id);

-- stock NULL: unlimited.
CREATE TABLE rewards (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    description TEXT,
    cost_points INTEGER NOT NULL CHECK (cost_points > 0),
    stock INTEGER CHECK (stock >= 0),
    active INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX rewards_created ON rewards (workspace_id, created_at, id);

-- A named job runs on the node holding its lease until locked_until.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    locked_until TEXT NOT NULL
);
