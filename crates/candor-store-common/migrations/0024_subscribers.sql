-- People who asked for news by email themselves. `subscription_requests` holds each
-- address waiting for its owner to confirm (the token's SHA-256 only; `tenant_id` set
-- for an invitation to a tenant's news), `subscribers` the confirmed public ones.
CREATE TABLE subscription_requests (
    id           {{uuid}} PRIMARY KEY NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    email        TEXT NOT NULL,
    tenant_id    {{uuid}} REFERENCES tenants (id),
    language     TEXT NOT NULL,
    subscription TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at {{time}} NOT NULL
);
CREATE INDEX subscription_requests_by ON subscription_requests (requested_by, requested_at);
CREATE INDEX subscription_requests_email ON subscription_requests (email, requested_at);

CREATE TABLE subscribers (
    id           {{uuid}} PRIMARY KEY NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    language     TEXT NOT NULL,
    subscription TEXT NOT NULL,
    confirmed_at {{time}} NOT NULL
);
