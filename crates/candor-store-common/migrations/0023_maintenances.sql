-- Planned maintenance: a window of work on some services for a scope, which moves from
-- scheduled to in progress to completed (or cancelled) on its own. Each carries a
-- Message Center message (`message_id`), which records the tenants it reached; `told`
-- holds the notices already given (JSON), `next_due` when the clock next moves it.
CREATE TABLE maintenances (
    id               TEXT {{key}},
    message_id       TEXT NOT NULL REFERENCES messages (id),
    services         TEXT NOT NULL,
    scope            TEXT NOT NULL,
    texts            TEXT NOT NULL,
    window_start     {{time}} NOT NULL,
    window_end       {{time}} NOT NULL,
    impact           TEXT NOT NULL,
    reminder_minutes {{int}} NOT NULL,
    state            TEXT NOT NULL,
    started_at       {{time}},
    ended_at         {{time}},
    told             TEXT NOT NULL,
    next_due         {{time}},
    broad            {{bool}} NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       {{time}} NOT NULL,
    last_modified_at {{time}} NOT NULL
);
CREATE INDEX maintenances_due ON maintenances (next_due);
CREATE INDEX maintenances_window ON maintenances (window_start);
CREATE INDEX maintenances_message ON maintenances (message_id);
