-- The change log numbered per county (issue 21; see shared/src/cursors.rs and the PostgreSQL
-- migration of the same number, which says why). SQLite cannot change a primary key in place:
-- the two log tables are rebuilt with their rows, numbers unchanged.
CREATE TABLE log_counters (
    county TEXT PRIMARY KEY NOT NULL,
    seq    INTEGER NOT NULL
);

CREATE TABLE changes_by_county (
    county       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    household_id TEXT NOT NULL REFERENCES households (id),
    hash         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (county, seq),
    UNIQUE (household_id, hash)
);
INSERT INTO changes_by_county (county, seq, household_id, hash, actor, area_code, bytes, created_at)
SELECT substr(area_code, 1, 6), seq, household_id, hash, actor, area_code, bytes, created_at
FROM changes;
DROP TABLE changes;
ALTER TABLE changes_by_county RENAME TO changes;
CREATE INDEX changes_area_seq ON changes (area_code, seq);

CREATE TABLE household_moves_by_county (
    county       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    household_id TEXT NOT NULL REFERENCES households(id),
    from_area    TEXT NOT NULL,
    to_area      TEXT NOT NULL,
    PRIMARY KEY (county, seq)
);
INSERT INTO household_moves_by_county (county, seq, household_id, from_area, to_area)
SELECT substr(from_area, 1, 6), seq, household_id, from_area, to_area FROM household_moves;
DROP TABLE household_moves;
ALTER TABLE household_moves_by_county RENAME TO household_moves;

INSERT INTO log_counters (county, seq)
SELECT c.county, (SELECT seq FROM sync_state WHERE id = 1)
FROM (SELECT county FROM changes UNION SELECT county FROM household_moves) c;

ALTER TABLE devices ADD COLUMN own_resent TEXT NOT NULL DEFAULT '{}';
