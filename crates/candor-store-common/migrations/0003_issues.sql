-- Service health issues, their posts, and the tenants each issue affects.

CREATE TABLE id_counters (
    name  TEXT {{key}},
    value {{int}} NOT NULL
);

CREATE TABLE issues (
    id                 TEXT {{key}},
    service_id         TEXT NOT NULL REFERENCES services (id),
    classification     TEXT NOT NULL,
    origin             TEXT NOT NULL,
    feature            TEXT,
    feature_group      TEXT,
    title              TEXT NOT NULL,
    impact_description TEXT NOT NULL,
    status             TEXT NOT NULL,
    start_at           {{time}} NOT NULL,
    end_at             {{time}},
    last_modified_at   {{time}} NOT NULL,
    details            TEXT NOT NULL,
    scope              TEXT NOT NULL,
    cadence_minutes    INTEGER NOT NULL,
    next_update_due    {{time}},
    owner_operator_id  {{uuid}},
    updates_total      {{int}} NOT NULL DEFAULT 0,
    updates_on_time    {{int}} NOT NULL DEFAULT 0
);
CREATE INDEX issues_last_modified ON issues (last_modified_at);
CREATE INDEX issues_due ON issues (next_update_due);

CREATE TABLE issue_posts (
    issue_id            TEXT NOT NULL REFERENCES issues (id),
    seq                 {{int}} NOT NULL,
    created_at          {{time}} NOT NULL,
    post_type           TEXT NOT NULL,
    language            TEXT NOT NULL,
    body_html           TEXT NOT NULL,
    translations        TEXT NOT NULL,
    status              TEXT NOT NULL,
    new_cadence_minutes INTEGER,
    author              TEXT NOT NULL,
    PRIMARY KEY (issue_id, seq)
);

CREATE TABLE issue_tenants (
    tenant_id {{uuid}} NOT NULL REFERENCES tenants (id),
    issue_id  TEXT NOT NULL REFERENCES issues (id),
    since     {{time}} NOT NULL,
    PRIMARY KEY (tenant_id, issue_id)
);
CREATE INDEX issue_tenants_issue ON issue_tenants (issue_id, tenant_id);
