-- The change log numbered per county (issue 21; see shared/src/cursors.rs): each county has a
-- counter of its own, so writers in different counties never queue on one row, and every log
-- row carries its county so that a PostgreSQL sharded by county (Citus) can keep it beside the
-- county's households. A device's cursor becomes a map, county -> number.
--
-- The numbers already handed out stay as they are (unique in the whole log, so unique in each
-- county), and every county's counter continues above the one counter's last value
-- (`sync_state.seq`, no longer moved): a cursor handed out before this migration is right in
-- every county, which is what lets a protocol 5 device keep its one cursor as a floor.
CREATE TABLE log_counters (
    county TEXT COLLATE "C" PRIMARY KEY,
    seq    BIGINT NOT NULL
);

ALTER TABLE changes ADD COLUMN county TEXT COLLATE "C";
UPDATE changes SET county = substr(area_code, 1, 6);
ALTER TABLE changes ALTER COLUMN county SET NOT NULL;
ALTER TABLE changes DROP CONSTRAINT changes_pkey;
ALTER TABLE changes ADD PRIMARY KEY (county, seq);

-- A move is numbered in the county it left: the devices that must drop the household pull there.
ALTER TABLE household_moves ADD COLUMN county TEXT COLLATE "C";
UPDATE household_moves SET county = substr(from_area, 1, 6);
ALTER TABLE household_moves ALTER COLUMN county SET NOT NULL;
ALTER TABLE household_moves DROP CONSTRAINT household_moves_pkey;
ALTER TABLE household_moves ADD PRIMARY KEY (county, seq);

INSERT INTO log_counters (county, seq)
SELECT c.county, (SELECT seq FROM sync_state WHERE id = 1)
FROM (SELECT county FROM changes UNION SELECT county FROM household_moves) c;

-- `own_resent_until` is now the floor of a map, county -> number, as a device's cursor is.
ALTER TABLE devices ADD COLUMN own_resent TEXT NOT NULL DEFAULT '{}';
