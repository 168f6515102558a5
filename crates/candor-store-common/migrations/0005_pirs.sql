-- Post-incident reviews, drafted and then published.

CREATE TABLE pirs (
    issue_id        TEXT {{key}} REFERENCES issues (id),
    user_impact     TEXT NOT NULL,
    scope_of_impact TEXT NOT NULL,
    start_at        {{time}} NOT NULL,
    end_at          {{time}} NOT NULL,
    root_cause      TEXT NOT NULL,
    actions_taken   TEXT NOT NULL,
    next_steps      TEXT NOT NULL,
    author          TEXT NOT NULL,
    updated_at      {{time}} NOT NULL,
    published_at    {{time}}
);
