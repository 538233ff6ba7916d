-- The field client's store. One file per device; every write in a transaction.

-- Device identity and preferences: device_id, actor, user_id, user_name, server_url, token.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One Automerge document per household, saved whole (a household is a few KB).
CREATE TABLE households (
    id           TEXT PRIMARY KEY,
    doc          BLOB NOT NULL,
    -- JSON array of the change hashes the server is known to have (sync).
    server_heads TEXT NOT NULL DEFAULT '[]',
    -- Set by every local edit, cleared when the server acknowledges it.
    dirty        INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL
) STRICT;

-- What lists and search need, so they never load documents. Rebuilt from the document on every
-- save. Holds no ID numbers, phones or incomes.
CREATE TABLE household_index (
    id           TEXT PRIMARY KEY REFERENCES households(id) ON DELETE CASCADE,
    household_no TEXT,
    head_name    TEXT,
    township     TEXT,
    village      TEXT,
    grp          TEXT,
    status       TEXT,
    size         INTEGER NOT NULL,
    -- Space-delimited codes, with a leading and trailing space: ' exit relapse '.
    open_cases   TEXT NOT NULL,
    flags        TEXT NOT NULL,
    -- Names of all members, household number and village, for search.
    search       TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX household_index_village ON household_index(village, head_name);
CREATE INDEX household_index_status ON household_index(status);

-- Resident IDs of current members, as salted SHA-256 digests: the import refuses a person who is
-- already in another household, without the store keeping the numbers in clear.
CREATE TABLE person_ids (
    digest       TEXT NOT NULL,
    household_id TEXT NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    PRIMARY KEY (digest, household_id)
) STRICT;

-- Photos and signatures, content-addressed by SHA-256. `original_of` marks a full-size original
-- kept on the device only (never synced), pointing at the downscaled copy that is.
CREATE TABLE attachments (
    hash        TEXT PRIMARY KEY,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    original_of TEXT,
    uploaded    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
) STRICT;
