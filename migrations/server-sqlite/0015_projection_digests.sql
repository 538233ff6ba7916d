-- What each household's projection rows are, table by table (issue 21): a sync that merged onto
-- a stored version compares the new rows with that version's digest and rewrites only the tables
-- that changed (a visit rewrites the household's and the visits' rows, no longer its members',
-- cases' or helpers'). Written in the same transaction as the rows; a household with no digest
-- (all of them at first) has every table written once. Whatever empties projection tables outside
-- `write_projections` must empty this table too (a reindex rewrites both).
CREATE TABLE p_digests (
    household_id TEXT PRIMARY KEY,
    digest       TEXT NOT NULL
);
