-- Each audit chain is also an RFC 9162 Merkle tree. A record keeps the tree hashes
-- computed when it was appended (its leaf hash, then the root of every subtree it
-- completed, 32 bytes each), written in the same statement as the record; the chain
-- head keeps the tree's size and frontier (the roots of its complete subtrees), so an
-- append reads nothing else. Records from before this migration get their hashes on
-- their chain's next append (tree_size then trails seq until it has caught up).
ALTER TABLE audit_records ADD COLUMN tree_hashes {{bytes}};
ALTER TABLE audit_chain_heads ADD COLUMN tree_size {{int}} NOT NULL DEFAULT 0;
ALTER TABLE audit_chain_heads ADD COLUMN frontier {{bytes}};
