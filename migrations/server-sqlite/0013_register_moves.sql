-- The rates' denominators are the register at a round's start (issue 18): each announced case
-- records how it moved its household's registered-poor and exited counts (+1, -1 or 0), so a
-- report taken after the decisions can undo the ones announced since the start.
ALTER TABLE p_cases ADD COLUMN poor_move INTEGER NOT NULL DEFAULT 0;
ALTER TABLE p_cases ADD COLUMN exited_move INTEGER NOT NULL DEFAULT 0;
CREATE INDEX p_cases_announced ON p_cases (announced_on, area_code);

-- Derived from the documents: emptying the households' rows makes the server rebuild the
-- projection at its next start (`rebuild_if_behind`).
DELETE FROM p_households;
