-- Private per-tenant Atom feeds: each link carries an unguessable token; only its
-- SHA-256 is kept. Revoked links stop working at once.

CREATE TABLE feed_tokens (
    id          {{uuid}} PRIMARY KEY NOT NULL,
    tenant_id   {{uuid}} NOT NULL REFERENCES tenants (id),
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  {{time}} NOT NULL,
    revoked_at  {{time}}
);
CREATE INDEX feed_tokens_tenant ON feed_tokens (tenant_id, created_at);
