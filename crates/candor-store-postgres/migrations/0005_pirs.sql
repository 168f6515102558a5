-- Post-incident reviews, drafted and then published.

CREATE TABLE pirs (
    issue_id        TEXT PRIMARY KEY REFERENCES issues (id),
    user_impact     TEXT NOT NULL,
    scope_of_impact TEXT NOT NULL,
    start_at        TIMESTAMPTZ NOT NULL,
    end_at          TIMESTAMPTZ NOT NULL,
    root_cause      TEXT NOT NULL,
    actions_taken   TEXT NOT NULL,
    next_steps      TEXT NOT NULL,
    author          TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    published_at    TIMESTAMPTZ
);
