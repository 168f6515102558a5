-- Customer Lockbox: each tenant's setting, the workloads and their pre-approved
-- operations, and the requests with their decisions. A request's next deadline (expiry
-- or end of access) is kept so a job can record what time alone decided.

CREATE TABLE lockbox_settings (
    tenant_id  {{uuid}} PRIMARY KEY NOT NULL REFERENCES tenants (id),
    enabled    {{bool}} NOT NULL,
    updated_at {{time}} NOT NULL
);

CREATE TABLE lockbox_workloads (
    name       TEXT PRIMARY KEY NOT NULL,
    operations TEXT NOT NULL
);

CREATE TABLE lockbox_requests (
    id                {{uuid}} PRIMARY KEY NOT NULL,
    tenant_id         {{uuid}} NOT NULL REFERENCES tenants (id),
    workload          TEXT NOT NULL,
    operations        TEXT NOT NULL,
    service_request   TEXT NOT NULL,
    justification     TEXT NOT NULL,
    duration_seconds  {{int}} NOT NULL,
    requester_id      {{uuid}} NOT NULL,
    requester_name    TEXT NOT NULL,
    created_at        {{time}} NOT NULL,
    needs_customer    {{bool}} NOT NULL,
    status            TEXT NOT NULL,
    internal_decision TEXT,
    pending_since     {{time}},
    customer_decision TEXT,
    access_start      {{time}},
    access_end        {{time}},
    ended             TEXT,
    next_deadline     {{time}}
);
CREATE INDEX lockbox_requests_tenant ON lockbox_requests (tenant_id, created_at);
CREATE INDEX lockbox_requests_requester ON lockbox_requests (requester_id, created_at);
CREATE INDEX lockbox_requests_deadline ON lockbox_requests (next_deadline);
