-- changes.area_code is now the household's CURRENT area, not its area when the change was
-- logged: a sync that moves a household rewrites the area of its logged changes in the same
-- transaction (storage::Database::commit_sync), so a pull (by area prefix and sequence, on
-- changes_area_seq) sends no history of a household that left the puller's areas and all of
-- it for one that arrived. Rows logged before this migration are brought in line once.
UPDATE changes
SET area_code = (SELECT h.area_code FROM households h WHERE h.id = changes.household_id)
WHERE area_code <> (SELECT h.area_code FROM households h WHERE h.id = changes.household_id);
