-- Each projection row's hash (issue 21; see server/storage/src/sql/projection_write.rs): a write of
-- a table that changed deletes the household's rows whose hash is not among its new rows' and
-- inserts the others, so a visit added writes one p_visits row instead of all of them. Rows
-- written before have none: the next write of their table replaces them.
ALTER TABLE p_households ADD COLUMN row_hash INTEGER;
ALTER TABLE p_members ADD COLUMN row_hash INTEGER;
ALTER TABLE p_cases ADD COLUMN row_hash INTEGER;
ALTER TABLE p_steps ADD COLUMN row_hash INTEGER;
ALTER TABLE p_visits ADD COLUMN row_hash INTEGER;
ALTER TABLE p_helpers ADD COLUMN row_hash INTEGER;
ALTER TABLE p_flags ADD COLUMN row_hash INTEGER;
ALTER TABLE p_conflicts ADD COLUMN row_hash INTEGER;
