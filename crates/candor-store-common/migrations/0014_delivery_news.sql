-- The news a change carries, rendered once per language and time zone and shared by all
-- its deliveries in them: a delivery row then holds only what is its recipient's own.
CREATE TABLE delivery_news (
    id         TEXT PRIMARY KEY NOT NULL,
    change_key TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at {{time}} NOT NULL
);
CREATE INDEX delivery_news_change ON delivery_news (change_key);

ALTER TABLE deliveries ADD COLUMN news_id TEXT;
