-- The people a tenant wants notified, by email, each in a language, with what they
-- subscribe to (topics and services, as JSON).

CREATE TABLE contacts (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    email        TEXT NOT NULL,
    language     TEXT NOT NULL,
    subscription TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (tenant_id, email)
);
