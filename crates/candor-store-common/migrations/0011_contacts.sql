-- The people a tenant wants notified, by email, each in a language, with what they
-- subscribe to (topics and services, as JSON).

CREATE TABLE contacts (
    id           {{uuid}} PRIMARY KEY NOT NULL,
    tenant_id    {{uuid}} NOT NULL REFERENCES tenants (id),
    email        TEXT NOT NULL,
    language     TEXT NOT NULL,
    subscription TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    UNIQUE (tenant_id, email)
);
