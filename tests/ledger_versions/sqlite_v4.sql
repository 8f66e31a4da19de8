-- schema 4 as it followed schema 3: whose account, which host
ALTER TABLE submissions ADD COLUMN account TEXT;
ALTER TABLE submissions ADD COLUMN file_host TEXT;
UPDATE meta SET value = 4 WHERE key = 'schema';
