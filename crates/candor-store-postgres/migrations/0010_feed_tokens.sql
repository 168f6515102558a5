-- Private per-tenant Atom feeds: each link carries an unguessable token; only its
-- SHA-256 is kept. Revoked links stop working at once.

CREATE TABLE feed_tokens (
    id          UUID PRIMARY KEY NOT NULL,
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX feed_tokens_tenant ON feed_tokens (tenant_id, created_at);
