-- The report's status counts and the roster's count read only these columns of p_households,
-- over a range of area codes: an index holding all of them answers both from the index alone,
-- already in the report's GROUP BY order, instead of a table lookup per household (W4: the
-- county roster count read 100,000 rows one lookup at a time on SQLite, 144 ms).
CREATE INDEX p_households_counts ON p_households (area_code, status, monitoring, persons);
