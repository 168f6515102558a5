-- Candor foundation: identities, sessions, the audit log, signing keys, durable jobs.

CREATE TABLE tenants (
    id               UUID PRIMARY KEY,
    name             TEXT NOT NULL,
    home_region      TEXT NOT NULL,
    default_language TEXT NOT NULL,
    time_zone        TEXT NOT NULL,
    is_demo          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tenants_name ON tenants (name);

CREATE TABLE tenant_users (
    tenant_id     UUID NOT NULL REFERENCES tenants (id),
    id            UUID NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_users_email ON tenant_users (email);

CREATE TABLE operators (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX operators_email ON operators (email);

CREATE TABLE api_clients (
    tenant_id    UUID NOT NULL REFERENCES tenants (id),
    id           UUID NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_clients_id ON api_clients (id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    tenant_id    UUID,
    user_id      UUID,
    operator_id  UUID,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ip_address   TEXT
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE audit_records (
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          UUID NOT NULL,
    tenant_id   UUID,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    ip_address  TEXT,
    activity    TEXT NOT NULL,
    item        TEXT,
    details     TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_records_time ON audit_records (chain, occurred_at);

CREATE TABLE audit_chain_heads (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);

CREATE TABLE audit_checkpoints (
    chain      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    head_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE signing_keys (
    key_id     TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    public     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (purpose) WHERE retired_at IS NULL;

CREATE TABLE jobs (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    run_at       TIMESTAMPTZ NOT NULL,
    dedupe_key   TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe_key ON jobs (dedupe_key);
CREATE INDEX jobs_due ON jobs (status, run_at);
