-- Photos and signatures by SHA-256, uploaded in chunks: `bytes` grows until it has `total`
-- bytes and its digest matches the name, then it is `complete` and served.
CREATE TABLE attachments (
    hash       TEXT PRIMARY KEY NOT NULL,
    mime       TEXT NOT NULL,
    total      INTEGER NOT NULL,
    bytes      BLOB NOT NULL,
    complete   BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
