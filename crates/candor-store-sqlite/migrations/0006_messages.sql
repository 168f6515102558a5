-- Message Center: messages, their attachments, the tenants each reached, and each
-- user's viewpoint (read, archived, favourite).

CREATE TABLE messages (
    id                 TEXT PRIMARY KEY NOT NULL,
    title              TEXT NOT NULL,
    body_html          TEXT NOT NULL,
    language           TEXT NOT NULL,
    translations       TEXT NOT NULL,
    category           TEXT NOT NULL,
    severity           TEXT NOT NULL,
    services           TEXT NOT NULL,
    tags               TEXT NOT NULL,
    is_major_change    INTEGER NOT NULL,
    action_required_by INTEGER,
    start_at           INTEGER NOT NULL,
    end_at             INTEGER,
    last_modified_at   INTEGER NOT NULL,
    details            TEXT NOT NULL,
    audience           TEXT NOT NULL,
    author             TEXT NOT NULL
);
CREATE INDEX messages_last_modified ON messages (last_modified_at);

CREATE TABLE message_attachments (
    id               TEXT PRIMARY KEY NOT NULL,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size             INTEGER NOT NULL,
    last_modified_at INTEGER NOT NULL,
    content          BLOB NOT NULL
);
CREATE INDEX message_attachments_message ON message_attachments (message_id);

CREATE TABLE message_tenants (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    message_id TEXT NOT NULL REFERENCES messages (id),
    since      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX message_tenants_message ON message_tenants (message_id, tenant_id);

CREATE TABLE message_viewpoints (
    user_id      TEXT NOT NULL,
    message_id   TEXT NOT NULL REFERENCES messages (id),
    is_read      INTEGER NOT NULL DEFAULT 0,
    is_archived  INTEGER NOT NULL DEFAULT 0,
    is_favorited INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
