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
    is_major_change    {{bool}} NOT NULL,
    action_required_by {{time}},
    start_at           {{time}} NOT NULL,
    end_at             {{time}},
    last_modified_at   {{time}} NOT NULL,
    details            TEXT NOT NULL,
    audience           TEXT NOT NULL,
    author             TEXT NOT NULL
);
CREATE INDEX messages_last_modified ON messages (last_modified_at);

CREATE TABLE message_attachments (
    id               {{uuid}} PRIMARY KEY NOT NULL,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size             {{int}} NOT NULL,
    last_modified_at {{time}} NOT NULL,
    content          {{bytes}} NOT NULL
);
CREATE INDEX message_attachments_message ON message_attachments (message_id);

CREATE TABLE message_tenants (
    tenant_id  {{uuid}} NOT NULL REFERENCES tenants (id),
    message_id TEXT NOT NULL REFERENCES messages (id),
    since      {{time}} NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX message_tenants_message ON message_tenants (message_id, tenant_id);

CREATE TABLE message_viewpoints (
    user_id      {{uuid}} NOT NULL,
    message_id   TEXT NOT NULL REFERENCES messages (id),
    is_read      {{bool}} NOT NULL DEFAULT {{false}},
    is_archived  {{bool}} NOT NULL DEFAULT {{false}},
    is_favorited {{bool}} NOT NULL DEFAULT {{false}},
    updated_at   {{time}} NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
