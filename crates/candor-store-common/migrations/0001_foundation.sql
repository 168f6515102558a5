-- Candor foundation: identities, sessions, the audit log, signing keys, durable jobs.
@sqlite -- Times are INTEGER microseconds since the Unix epoch (UTC); ids are UUID text.

CREATE TABLE tenants (
    id               {{uuid}} {{key}},
    name             TEXT NOT NULL,
    home_region      TEXT NOT NULL,
    default_language TEXT NOT NULL,
    time_zone        TEXT NOT NULL,
    is_demo          {{bool}} NOT NULL DEFAULT {{false}},
    created_at       {{time}} NOT NULL
);
CREATE UNIQUE INDEX tenants_name ON tenants (name);

CREATE TABLE tenant_users (
    tenant_id     {{uuid}} NOT NULL REFERENCES tenants (id),
    id            {{uuid}} NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      {{bool}} NOT NULL DEFAULT {{false}},
    created_at    {{time}} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_users_email ON tenant_users (email);

CREATE TABLE operators (
    id            {{uuid}} {{key}},
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    language      TEXT,
    disabled      {{bool}} NOT NULL DEFAULT {{false}},
    created_at    {{time}} NOT NULL
);
CREATE UNIQUE INDEX operators_email ON operators (email);

CREATE TABLE api_clients (
    tenant_id    {{uuid}} NOT NULL REFERENCES tenants (id),
    id           {{uuid}} NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    revoked_at   {{time}},
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_clients_id ON api_clients (id);

CREATE TABLE sessions (
    token_hash   TEXT {{key}},
    tenant_id    {{uuid}},
    user_id      {{uuid}},
    operator_id  {{uuid}},
    csrf_token   TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    last_seen_at {{time}} NOT NULL,
    ip_address   TEXT
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE audit_records (
    chain       TEXT NOT NULL,
    seq         {{int}} NOT NULL,
    id          {{uuid}} NOT NULL,
    tenant_id   {{uuid}},
    occurred_at {{time}} NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    ip_address  TEXT,
    activity    TEXT NOT NULL,
    item        TEXT,
    details     TEXT NOT NULL,
    prev_hash   {{bytes}} NOT NULL,
    hash        {{bytes}} NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_records_time ON audit_records (chain, occurred_at);

CREATE TABLE audit_chain_heads (
    chain TEXT {{key}},
    seq   {{int}} NOT NULL,
    hash  {{bytes}} NOT NULL
);

CREATE TABLE audit_checkpoints (
    chain      TEXT NOT NULL,
    seq        {{int}} NOT NULL,
    head_hash  {{bytes}} NOT NULL,
    created_at {{time}} NOT NULL,
    key_id     TEXT NOT NULL,
    signature  {{bytes}} NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE signing_keys (
    key_id     TEXT {{key}},
    purpose    TEXT NOT NULL,
    secret     {{bytes}} NOT NULL,
    public     {{bytes}} NOT NULL,
    created_at {{time}} NOT NULL,
    retired_at {{time}}
);
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (purpose) WHERE retired_at IS NULL;

CREATE TABLE jobs (
    id           {{uuid}} {{key}},
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    run_at       {{time}} NOT NULL,
    dedupe_key   TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  {{time}},
    last_error   TEXT,
    created_at   {{time}} NOT NULL,
    updated_at   {{time}} NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe_key ON jobs (dedupe_key);
CREATE INDEX jobs_due ON jobs (status, run_at);
