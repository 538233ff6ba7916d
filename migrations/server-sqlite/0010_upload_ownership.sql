-- Unfinished uploads belong to the device sending them (issue 16): one device's partial bytes of
-- a hash neither block nor overwrite another's, and count against that device's quota. The first
-- upload to complete with bytes matching its hash is copied into `attachments` and every partial
-- of that hash is dropped, so from here on `attachments` holds complete attachments only.
CREATE TABLE attachment_uploads (
    device_id  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    mime       TEXT NOT NULL,
    total      INTEGER NOT NULL,
    bytes      BLOB NOT NULL,
    -- The last chunk's time: an upload left this long is dropped (`upload_expiry_hours`).
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (device_id, hash)
);
-- Completing a hash drops everyone's partials of it; expiry looks for old ones.
CREATE INDEX attachment_uploads_hash ON attachment_uploads (hash);
CREATE INDEX attachment_uploads_updated_at ON attachment_uploads (updated_at);

-- Unfinished uploads from before name no device: dropped. Their devices are told offset 0 and
-- send them again from the start.
DELETE FROM attachments WHERE NOT complete;
