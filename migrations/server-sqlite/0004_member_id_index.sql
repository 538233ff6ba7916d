-- The duplicate-ID check groups current members by ID number; a partial index in (id_number,
-- household_id) order lets it read the index alone, already grouped. The roster's ID filter
-- (current members only) uses it too, so the older full index goes.
DROP INDEX p_members_id_number;
CREATE INDEX p_members_current_id ON p_members (id_number, household_id) WHERE is_current = 1;
