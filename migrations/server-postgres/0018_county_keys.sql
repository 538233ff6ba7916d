-- Households, their projection and the spot checks keyed with their county (issue 21), as the
-- change log is since 0016: every row of a household's lies in its county's part of the
-- database, so a PostgreSQL sharded by county (Citus) can keep a county's households, rows,
-- log and checks together, and a sync's statements name the county they touch. See the
-- README, "Sharding by county".

-- The log's references to `households (id)` go: a distributed table cannot keep a reference
-- without the distribution column, and a (county, id) one would stand in the way of a move to
-- another county, which takes a household's row and its log rows out of one county and into
-- another in one transaction (storage-postgres, `commit`). A move's row lies in the county the
-- household left, where the household no longer is.
ALTER TABLE changes DROP CONSTRAINT changes_household_id_fkey;
ALTER TABLE household_moves DROP CONSTRAINT household_moves_household_id_fkey;

ALTER TABLE households ADD COLUMN county TEXT COLLATE "C";
UPDATE households SET county = substr(area_code, 1, 6);
ALTER TABLE households ALTER COLUMN county SET NOT NULL;
ALTER TABLE households DROP CONSTRAINT households_pkey;
ALTER TABLE households ADD PRIMARY KEY (county, id);
-- One county at a time per household, on a single node. A distributed table cannot hold this
-- index (it lacks the distribution column); the README says what replaces it there.
CREATE UNIQUE INDEX households_id ON households (id);

ALTER TABLE p_households ADD COLUMN county TEXT COLLATE "C";
UPDATE p_households p SET county = h.county FROM households h WHERE h.id = p.id;
DELETE FROM p_households WHERE county IS NULL;
ALTER TABLE p_households ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_households DROP CONSTRAINT p_households_pkey;
ALTER TABLE p_households ADD PRIMARY KEY (county, id);

ALTER TABLE p_members ADD COLUMN county TEXT COLLATE "C";
UPDATE p_members p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_members WHERE county IS NULL;
ALTER TABLE p_members ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_members DROP CONSTRAINT p_members_pkey;
ALTER TABLE p_members ADD PRIMARY KEY (county, household_id, member_id);

ALTER TABLE p_cases ADD COLUMN county TEXT COLLATE "C";
UPDATE p_cases p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_cases WHERE county IS NULL;
ALTER TABLE p_cases ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_cases DROP CONSTRAINT p_cases_pkey;
ALTER TABLE p_cases ADD PRIMARY KEY (county, household_id, case_id);

ALTER TABLE p_steps ADD COLUMN county TEXT COLLATE "C";
UPDATE p_steps p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_steps WHERE county IS NULL;
ALTER TABLE p_steps ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_steps DROP CONSTRAINT p_steps_pkey;
ALTER TABLE p_steps ADD PRIMARY KEY (county, household_id, case_id, step_id);

ALTER TABLE p_visits ADD COLUMN county TEXT COLLATE "C";
UPDATE p_visits p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_visits WHERE county IS NULL;
ALTER TABLE p_visits ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_visits DROP CONSTRAINT p_visits_pkey;
ALTER TABLE p_visits ADD PRIMARY KEY (county, household_id, visit_id);

ALTER TABLE p_helpers ADD COLUMN county TEXT COLLATE "C";
UPDATE p_helpers p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_helpers WHERE county IS NULL;
ALTER TABLE p_helpers ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_helpers DROP CONSTRAINT p_helpers_pkey;
ALTER TABLE p_helpers ADD PRIMARY KEY (county, household_id, helper_id);

ALTER TABLE p_flags ADD COLUMN county TEXT COLLATE "C";
UPDATE p_flags p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_flags WHERE county IS NULL;
ALTER TABLE p_flags ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_flags DROP CONSTRAINT p_flags_pkey;
ALTER TABLE p_flags ADD PRIMARY KEY (county, household_id, n);

ALTER TABLE p_conflicts ADD COLUMN county TEXT COLLATE "C";
UPDATE p_conflicts p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_conflicts WHERE county IS NULL;
ALTER TABLE p_conflicts ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_conflicts DROP CONSTRAINT p_conflicts_pkey;
ALTER TABLE p_conflicts ADD PRIMARY KEY (county, household_id, path);

ALTER TABLE p_digests ADD COLUMN county TEXT COLLATE "C";
UPDATE p_digests p SET county = h.county FROM households h WHERE h.id = p.household_id;
DELETE FROM p_digests WHERE county IS NULL;
ALTER TABLE p_digests ALTER COLUMN county SET NOT NULL;
ALTER TABLE p_digests DROP CONSTRAINT p_digests_pkey;
ALTER TABLE p_digests ADD PRIMARY KEY (county, household_id);

-- The 督查组's samples, in the county of the township drawn.
ALTER TABLE spot_checks ADD COLUMN county TEXT COLLATE "C";
UPDATE spot_checks SET county = substr(township, 1, 6);
ALTER TABLE spot_checks ALTER COLUMN county SET NOT NULL;
ALTER TABLE spot_checks DROP CONSTRAINT spot_checks_pkey;
ALTER TABLE spot_checks ADD PRIMARY KEY (county, township, day, household_id);
