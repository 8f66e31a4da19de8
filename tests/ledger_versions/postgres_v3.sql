-- step 3 as it followed step 2
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS account TEXT;
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS file_host TEXT;
UPDATE meta SET value = 3 WHERE key = 'schema';
