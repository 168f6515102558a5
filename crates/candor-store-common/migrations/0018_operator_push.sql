-- Browsers of operators that asked for push notifications: an Incident Manager chased
-- for an overdue update is told on their phone as well as by email. Kept apart from
-- tenant users' browsers, which belong to a tenant and hear its news.

CREATE TABLE operator_push_subscriptions (
    id           {{uuid}} PRIMARY KEY NOT NULL,
    operator_id  {{uuid}} NOT NULL REFERENCES operators (id),
    endpoint     TEXT NOT NULL UNIQUE,
    p256dh       TEXT NOT NULL,
    auth         TEXT NOT NULL,
    label        TEXT NOT NULL,
    created_at   {{time}} NOT NULL
);
CREATE INDEX operator_push_subscriptions_operator ON operator_push_subscriptions (operator_id);
