-- A pull walks its county's log from the device's cursor and keeps the rows in the device's
-- areas that another actor wrote, first reading only their sizes to fill its page (issue 21).
-- With the primary key (county, seq) alone every row walked was looked up in the table, whose
-- change bytes fill most of a page: a page read per row, through the WAL, since every write by
-- another connection empties a connection's page cache. With each row's size kept, and beside
-- it in one index what the filter reads, the sizes pass reads the index alone and the bytes pass
-- looks up only the rows it sends. The index on (area_code, seq) served no query.
ALTER TABLE changes ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET size = length(bytes);
DROP INDEX changes_area_seq;
CREATE INDEX changes_pull ON changes (county, seq, area_code, actor, size);
