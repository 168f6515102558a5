-- Webhook endpoints tenants register, and the deliveries of news to contacts and
-- endpoints. The deliveries table is the delivery queue itself: its id comes from the
-- dedupe key (change, recipient, channel), so the same news is never queued twice for
-- the same recipient, and workers claim due rows in batches.

CREATE TABLE webhook_endpoints (
    id              {{uuid}} PRIMARY KEY NOT NULL,
    tenant_id       {{uuid}} NOT NULL REFERENCES tenants (id),
    url             TEXT NOT NULL,
    format          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  {{time}},
    subscription    TEXT NOT NULL,
    enabled         {{bool}} NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    created_at      {{time}} NOT NULL,
    UNIQUE (tenant_id, url)
);

CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    {{uuid}} NOT NULL,
    change_key   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    endpoint_id  {{uuid}},
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       {{time}} NOT NULL,
    lease_owner  TEXT,
    lease_until  {{time}},
    last_error   TEXT,
    created_at   {{time}} NOT NULL,
    updated_at   {{time}} NOT NULL,
    sent_at      {{time}}
);
CREATE INDEX deliveries_due ON deliveries (status, run_at);
CREATE INDEX deliveries_change ON deliveries (change_key, status);
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, created_at, id);
