-- The day of a household's latest visit, for the list's "due for a visit" filter and sort:
-- '' when it was never visited, NULL while not yet worked out (rows from before this column;
-- the store fills them in when it opens, from the documents).
ALTER TABLE household_index ADD COLUMN last_visit TEXT;
CREATE INDEX household_index_last_visit ON household_index(last_visit);
