-- Browsers of tenant users that asked for push notifications (Web Push): the push
-- service endpoint, the keys to encrypt for the browser, and what it is told about.

CREATE TABLE push_subscriptions (
    id           {{uuid}} PRIMARY KEY NOT NULL,
    tenant_id    {{uuid}} NOT NULL REFERENCES tenants (id),
    user_id      {{uuid}} NOT NULL,
    endpoint     TEXT NOT NULL UNIQUE,
    p256dh       TEXT NOT NULL,
    auth         TEXT NOT NULL,
    subscription TEXT NOT NULL,
    label        TEXT NOT NULL,
    created_at   {{time}} NOT NULL
);
CREATE INDEX push_subscriptions_tenant ON push_subscriptions (tenant_id, user_id);
