-- schema 2 as it followed schema 1: owned rows
ALTER TABLE submissions ADD COLUMN owner TEXT;
CREATE TABLE owners (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL, beat_at INTEGER NOT NULL
);
CREATE INDEX by_owner ON submissions (owner);
INSERT INTO meta VALUES ('schema', 2);
