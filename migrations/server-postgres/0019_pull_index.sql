-- A pull walks its county's log from the device's cursor and keeps the rows in the device's
-- areas that another actor wrote, first reading only their sizes to fill its page (issue 21).
-- With the primary key (county, seq) alone every row walked was fetched from the heap, change
-- bytes and all. With each row's size kept, and beside it in one index what the filter reads,
-- the sizes pass can be an index-only scan and the bytes pass fetches only the rows it sends.
-- The index on (area_code, seq) served no query.
ALTER TABLE changes ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE changes SET size = octet_length(bytes);
ALTER TABLE changes ALTER COLUMN size DROP DEFAULT;
DROP INDEX changes_area_seq;
CREATE INDEX changes_pull ON changes (county, seq) INCLUDE (area_code, actor, size);
