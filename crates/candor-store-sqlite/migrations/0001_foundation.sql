-- Candor foundation: identities, sessions, the audit log, signing keys, durable jobs.
-- Times are INTEGER microseconds since the Unix epoch (UTC); ids are UUID text.

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    home_region      TEXT NOT NULL,
    default_language TEXT NOT NULL,
    time_zone        TEXT NOT NULL,
    is_demo          INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX tenants_name ON tenants (name);

CREATE TABLE tenant_users (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_users_email ON tenant_users (email);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX operators_email ON operators (email);

CREATE TABLE api_clients (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_clients_id ON api_clients (id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT,
    user_id      TEXT,
    operator_id  TEXT,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip_address   TEXT
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE audit_records (
    chain       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,
    tenant_id   TEXT,
    occurred_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    ip_address  TEXT,
    activity    TEXT NOT NULL,
    item        TEXT,
    details     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_records_time ON audit_records (chain, occurred_at);

CREATE TABLE audit_chain_heads (
    chain TEXT PRIMARY KEY NOT NULL,
    seq   INTEGER NOT NULL,
    hash  BLOB NOT NULL
);

CREATE TABLE audit_checkpoints (
    chain      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    head_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE signing_keys (
    key_id     TEXT PRIMARY KEY NOT NULL,
    purpose    TEXT NOT NULL,
    secret     BLOB NOT NULL,
    public     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (purpose) WHERE retired_at IS NULL;

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    run_at       INTEGER NOT NULL,
    dedupe_key   TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe_key ON jobs (dedupe_key);
CREATE INDEX jobs_due ON jobs (status, run_at);
