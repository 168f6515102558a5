-- Internal elevations: an operator holds a privileged role only for the approved time.
-- The decision (who approved or denied, when, why) is JSON.

CREATE TABLE elevations (
    id               UUID PRIMARY KEY NOT NULL,
    operator_id      UUID NOT NULL,
    role             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    requested_at     TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL,
    decision         TEXT,
    active_from      TIMESTAMPTZ,
    active_until     TIMESTAMPTZ
);
CREATE INDEX elevations_operator ON elevations (operator_id, requested_at);
CREATE INDEX elevations_status ON elevations (status, requested_at);
