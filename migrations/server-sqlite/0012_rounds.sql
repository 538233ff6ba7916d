-- 工作批次 (issue 18): the rounds a county opens, each with its dates, areas and report. Areas
-- are area-code prefixes, comma-separated.
CREATE TABLE rounds (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    starts_on  TEXT NOT NULL,
    ends_on    TEXT,
    areas      TEXT NOT NULL,
    opened_by  TEXT NOT NULL,
    opened_at  TEXT NOT NULL
);

-- Each case's round (its own, or `year-YYYY` for a case from before rounds) and the day its
-- 公告 passed, so reports filter by round and know what a round's decisions changed.
ALTER TABLE p_cases ADD COLUMN round_id TEXT NOT NULL DEFAULT '';
ALTER TABLE p_cases ADD COLUMN announced_on TEXT;
CREATE INDEX p_cases_round ON p_cases (round_id, area_code);

-- The new columns are derived from the documents: emptying the households' rows makes the
-- server rebuild the projection at its next start (`rebuild_if_behind`).
DELETE FROM p_households;
