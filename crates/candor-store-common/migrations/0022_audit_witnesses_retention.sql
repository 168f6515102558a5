-- Witnesses whose cosignatures (C2SP tlog-cosignature) a log accepts, each with the
-- newest cosignature it sent: a checkpoint is served and published with the lines of
-- the witnesses that co-signed its size.
CREATE TABLE audit_witnesses (
    id            {{uuid}} PRIMARY KEY NOT NULL,
    chain         TEXT NOT NULL,
    name          TEXT NOT NULL,
    key_id        {{int}} NOT NULL,
    verifier_key  TEXT NOT NULL,
    added_at      {{time}} NOT NULL,
    cosigned_size {{int}},
    cosignature   TEXT,
    cosigned_at   {{time}},
    UNIQUE (chain, name, key_id)
);

-- How many days a log keeps its records' bodies (no row: for good). Past it a record
-- keeps its place, time, hashes and tree hashes, so every proof still verifies.
CREATE TABLE audit_retention (
    chain TEXT PRIMARY KEY NOT NULL,
    days  {{int}} NOT NULL
);
ALTER TABLE audit_records ADD COLUMN pruned {{bool}} NOT NULL DEFAULT {{false}};
