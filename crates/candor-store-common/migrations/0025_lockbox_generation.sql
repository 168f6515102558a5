-- A counter every Lockbox change bumps in its own transaction. Instances that keep
-- approved grants in memory read it every second: one that missed another instance's
-- announcement still drops its stale grants within that second.
CREATE TABLE lockbox_generation (
    id    {{int}} PRIMARY KEY NOT NULL,
    value {{int}} NOT NULL
);
INSERT INTO lockbox_generation (id, value) VALUES (1, 0);
