-- Every save replaces the household's rows in person_ids; without this index that delete scans
-- the whole table, so saving got slower with every household on the device.
CREATE INDEX person_ids_household ON person_ids(household_id);
