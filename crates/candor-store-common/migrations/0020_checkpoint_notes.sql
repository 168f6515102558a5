-- A checkpoint also carries its chain's Merkle tree head as a C2SP tlog-checkpoint,
-- signed as a C2SP signed note: what is published for tenants and witnesses to check.
ALTER TABLE audit_checkpoints ADD COLUMN note TEXT;
