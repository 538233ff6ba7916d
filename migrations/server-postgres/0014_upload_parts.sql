-- An unfinished upload keeps its chunks as rows of their own (issue 21): appending a chunk writes
-- that chunk, where rewriting one growing value cost the whole upload again at every chunk
-- (quadratic in its length). The parts are joined once, when the upload completes. Unfinished
-- uploads from before are dropped: their devices are told offset 0 and send them again.
DELETE FROM attachment_uploads;
ALTER TABLE attachment_uploads DROP COLUMN bytes;
ALTER TABLE attachment_uploads ADD COLUMN received BIGINT NOT NULL DEFAULT 0;
CREATE TABLE attachment_upload_parts (
    device_id TEXT NOT NULL,
    hash      TEXT NOT NULL,
    -- The part's first byte within the upload.
    start     BIGINT NOT NULL,
    bytes     BYTEA NOT NULL,
    PRIMARY KEY (device_id, hash, start),
    FOREIGN KEY (device_id, hash) REFERENCES attachment_uploads (device_id, hash) ON DELETE CASCADE
);
