CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL, label TEXT, task_id TEXT, model TEXT, mode TEXT, prompt TEXT, params TEXT, estimated_credits INTEGER NOT NULL DEFAULT 0, credits_used INTEGER, status TEXT NOT NULL DEFAULT 'QUEUED', error TEXT, submitted_at INTEGER, sent_at INTEGER, completed_at INTEGER, video_url TEXT, local_path TEXT, fingerprint TEXT, base_url TEXT, rev INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE budgets (experiment TEXT PRIMARY KEY, credits INTEGER NOT NULL);
CREATE TABLE baselines (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, credits INTEGER NOT NULL,
    available INTEGER NOT NULL, ledger_spent INTEGER NOT NULL, base_url TEXT
);
CREATE TABLE votes (
    id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, ballot INTEGER NOT NULL,
    winner INTEGER NOT NULL, loser INTEGER NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE df_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), rev INTEGER NOT NULL, generation INTEGER NOT NULL,
    rows INTEGER NOT NULL, format TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX by_fingerprint ON submissions (experiment, fingerprint);
CREATE INDEX by_task ON submissions (task_id);
CREATE INDEX by_status ON submissions (status);
CREATE INDEX by_rev ON submissions (rev);
CREATE TRIGGER rev_on_insert AFTER INSERT ON submissions WHEN NEW.rev = 0
BEGIN
    UPDATE submissions SET rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM submissions) WHERE id = NEW.id;
END;
CREATE TRIGGER rev_on_update AFTER UPDATE ON submissions WHEN NEW.rev = OLD.rev
BEGIN
    UPDATE submissions SET rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM submissions) WHERE id = NEW.id;
END;
CREATE TRIGGER generation_on_delete AFTER DELETE ON submissions
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    DELETE FROM df_snapshot;
END;
INSERT INTO meta VALUES ('generation', 0);
