-- Draft issues opened by alerts from monitoring: not published, one open draft per
-- alert fingerprint (a repeat updates it), published by an incident manager.
CREATE TABLE issue_drafts (
    id               {{uuid}} PRIMARY KEY NOT NULL,
    fingerprint      TEXT NOT NULL,
    origin           TEXT NOT NULL,
    service_id       TEXT NOT NULL,
    classification   TEXT NOT NULL,
    title            TEXT NOT NULL,
    impact           TEXT NOT NULL,
    scope            TEXT NOT NULL,
    firing           {{bool}} NOT NULL,
    affected_tenants BIGINT NOT NULL,
    notes            TEXT NOT NULL,
    link             TEXT,
    starts_at        {{time}} NOT NULL,
    created_at       {{time}} NOT NULL,
    updated_at       {{time}} NOT NULL,
    issue_id         TEXT
);
CREATE UNIQUE INDEX issue_drafts_open ON issue_drafts (fingerprint) WHERE issue_id IS NULL;
CREATE INDEX issue_drafts_recent ON issue_drafts (updated_at);
