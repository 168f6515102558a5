-- Machine credentials for the operator API (monitoring systems, tooling) and the
-- idempotency keys that make retried writes safe.

CREATE TABLE operator_clients (
    id           TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    roles        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
