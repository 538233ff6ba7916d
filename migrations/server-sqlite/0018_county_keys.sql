-- Households, their projection and the spot checks keyed with their county (issue 21), as the
-- change log is since 0016: every row of a household's lies in its county's part of the
-- database, so a PostgreSQL sharded by county (Citus) can keep a county's households, rows,
-- log and checks on one node. See the README, "Sharding by county".
--
-- SQLite is never sharded; it takes the same columns so that one piece of SQL reads and writes
-- both backends. `households.county` is computed from the area code here, unindexed (its key
-- stays `id`: the change log refers to it, SQLite cannot re-key a referenced table in a
-- migration, and no query here needs the pair in an index); every other table gets `county`
-- first in its key.
ALTER TABLE households ADD COLUMN county TEXT GENERATED ALWAYS AS (substr(area_code, 1, 6)) VIRTUAL;

-- The projection is derived from the documents: its tables are made anew, empty, and
-- `zoufang-server migrate` rebuilds them (`rebuild_if_behind`), digests included.
DROP TABLE p_households;
CREATE TABLE p_households (
    county         TEXT NOT NULL,
    id             TEXT NOT NULL,
    area_code      TEXT NOT NULL,
    household_no   TEXT,
    head_name      TEXT NOT NULL,
    head_id        TEXT,
    phone          TEXT,
    status         TEXT,
    monitoring     TEXT,
    attribute      TEXT,
    main_cause     TEXT,
    persons        BIGINT NOT NULL,
    income_year    BIGINT,
    net_income     BIGINT,
    per_capita     BIGINT,
    prev_net_income BIGINT,
    last_visit     TEXT,
    errors         BIGINT NOT NULL,
    warnings       BIGINT NOT NULL,
    conflicts      BIGINT NOT NULL,
    failed_criteria TEXT NOT NULL,
    changed_at     TEXT NOT NULL,
    row_hash       INTEGER,
    PRIMARY KEY (county, id)
);
CREATE INDEX p_households_area ON p_households (area_code, id);
CREATE INDEX p_households_counts ON p_households (area_code, status, monitoring, persons);

DROP TABLE p_members;
CREATE TABLE p_members (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    id_number    TEXT,
    sex          TEXT,
    relation     TEXT,
    birth_date   TEXT,
    health       TEXT,
    is_current   BIGINT NOT NULL,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, member_id)
);
CREATE INDEX p_members_current_id ON p_members (id_number, household_id) WHERE is_current = 1;

DROP TABLE p_cases;
CREATE TABLE p_cases (
    county          TEXT NOT NULL,
    household_id    TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    area_code       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    origin          TEXT,
    proposed_on     TEXT NOT NULL,
    stage           TEXT NOT NULL,
    stage_step      TEXT,
    persons         BIGINT NOT NULL,
    publicity_start TEXT,
    publicity_end   TEXT,
    objections      BIGINT NOT NULL,
    round_id        TEXT NOT NULL DEFAULT '',
    announced_on    TEXT,
    poor_move       INTEGER NOT NULL DEFAULT 0,
    exited_move     INTEGER NOT NULL DEFAULT 0,
    row_hash        INTEGER,
    PRIMARY KEY (county, household_id, case_id)
);
CREATE INDEX p_cases_area ON p_cases (area_code, proposed_on);
CREATE INDEX p_cases_round ON p_cases (round_id, area_code);
CREATE INDEX p_cases_announced ON p_cases (announced_on, area_code);

DROP TABLE p_steps;
CREATE TABLE p_steps (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    step         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    day          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    comment      TEXT NOT NULL,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, case_id, step_id)
);

DROP TABLE p_visits;
CREATE TABLE p_visits (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    visit_id     TEXT NOT NULL,
    day          TEXT NOT NULL,
    visitor      TEXT NOT NULL,
    mode         TEXT NOT NULL,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, visit_id)
);

DROP TABLE p_helpers;
CREATE TABLE p_helpers (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    helper_id    TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    unit         TEXT,
    helper_key   TEXT NOT NULL,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, helper_id)
);
CREATE INDEX p_helpers_key ON p_helpers (helper_key);

DROP TABLE p_flags;
CREATE TABLE p_flags (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    n            BIGINT NOT NULL,
    area_code    TEXT NOT NULL,
    code         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    message      TEXT NOT NULL,
    member_id    TEXT,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, n)
);
CREATE INDEX p_flags_area ON p_flags (area_code);

DROP TABLE p_conflicts;
CREATE TABLE p_conflicts (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    path         TEXT NOT NULL,
    area_code    TEXT NOT NULL,
    n_values     BIGINT NOT NULL,
    row_hash     INTEGER,
    PRIMARY KEY (county, household_id, path)
);
CREATE INDEX p_conflicts_area ON p_conflicts (area_code);

DROP TABLE p_digests;
CREATE TABLE p_digests (
    county       TEXT NOT NULL,
    household_id TEXT NOT NULL,
    digest       TEXT NOT NULL,
    PRIMARY KEY (county, household_id)
);

-- The 督查组's samples are records, not derived: copied into the new key.
CREATE TABLE spot_checks_keyed (
    county       TEXT NOT NULL,
    township     TEXT NOT NULL,
    day          TEXT NOT NULL,
    household_id TEXT NOT NULL,
    village      TEXT NOT NULL,
    drawn_by     TEXT NOT NULL,
    result       TEXT,
    note         TEXT,
    checked_by   TEXT,
    checked_at   TEXT,
    PRIMARY KEY (county, township, day, household_id)
);
INSERT INTO spot_checks_keyed
SELECT substr(township, 1, 6), township, day, household_id, village, drawn_by, result, note,
       checked_by, checked_at
FROM spot_checks;
DROP TABLE spot_checks;
ALTER TABLE spot_checks_keyed RENAME TO spot_checks;
