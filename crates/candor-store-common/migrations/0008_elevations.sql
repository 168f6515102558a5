-- Internal elevations: an operator holds a privileged role only for the approved time.
-- The decision (who approved or denied, when, why) is JSON.

CREATE TABLE elevations (
    id               {{uuid}} PRIMARY KEY NOT NULL,
    operator_id      {{uuid}} NOT NULL,
    role             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    duration_seconds {{int}} NOT NULL,
    requested_at     {{time}} NOT NULL,
    status           TEXT NOT NULL,
    decision         TEXT,
    active_from      {{time}},
    active_until     {{time}}
);
CREATE INDEX elevations_operator ON elevations (operator_id, requested_at);
CREATE INDEX elevations_status ON elevations (status, requested_at);
