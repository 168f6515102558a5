-- Machine credentials for the operator API (monitoring systems, tooling) and the
-- idempotency keys that make retried writes safe.

CREATE TABLE operator_clients (
    id           {{uuid}} {{key}},
    display_name TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    roles        TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    revoked_at   {{time}}
);

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    created_at    {{time}} NOT NULL,
    PRIMARY KEY (scope, key)
);
