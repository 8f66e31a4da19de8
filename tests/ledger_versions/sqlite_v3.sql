-- schema 3 as it followed schema 2: the account's slots
CREATE TABLE slot_accounts (account TEXT PRIMARY KEY, slot_limit INTEGER NOT NULL);
CREATE TABLE slot_leases (
    account TEXT NOT NULL, job_row INTEGER NOT NULL, owner TEXT NOT NULL, user_name TEXT NOT NULL,
    granted_at INTEGER NOT NULL, PRIMARY KEY (account, job_row)
);
CREATE TABLE slot_waits (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, user_name TEXT NOT NULL,
    job_row INTEGER NOT NULL, owner TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
    UNIQUE (account, job_row)
);
CREATE TABLE slot_users (
    account TEXT NOT NULL, user_name TEXT NOT NULL, turn INTEGER NOT NULL,
    PRIMARY KEY (account, user_name)
);
UPDATE meta SET value = 3 WHERE key = 'schema';
