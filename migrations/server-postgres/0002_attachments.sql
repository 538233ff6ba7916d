-- Photos and signatures by SHA-256, uploaded in chunks: `bytes` grows until it has `total`
-- bytes and its digest matches the name, then it is `complete` and served.
CREATE TABLE attachments (
    hash       TEXT PRIMARY KEY NOT NULL,
    mime       TEXT NOT NULL,
    total      BIGINT NOT NULL,
    bytes      BYTEA NOT NULL,
    complete   BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
