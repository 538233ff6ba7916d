-- The server's schema on SQLite. Timestamps are RFC 3339 text in UTC.

CREATE TABLE areas (
    code   TEXT PRIMARY KEY NOT NULL,
    name   TEXT NOT NULL,
    parent TEXT,
    level  TEXT NOT NULL
);

CREATE TABLE users (
    -- AUTOINCREMENT: a deleted user's id is never handed to someone else.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- No foreign key to areas: users may be created before the area tree is imported.
CREATE TABLE user_areas (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    area_code TEXT NOT NULL,
    PRIMARY KEY (user_id, area_code)
);

CREATE TABLE devices (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    actor      TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE households (
    id         TEXT PRIMARY KEY NOT NULL,
    area_code  TEXT NOT NULL,
    doc        BLOB NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX households_area ON households (area_code);

-- The change log pulls read. seq comes from sync_state, never from the rowid, so it is assigned
-- the same way on both backends.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY NOT NULL,
    household_id TEXT NOT NULL REFERENCES households (id),
    hash         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    -- The household's area at write time, so a pull filters without a join.
    area_code    TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (household_id, hash)
);
-- A pull asks for an area prefix (a range of codes) after a cursor.
CREATE INDEX changes_area_seq ON changes (area_code, seq);

-- The one counter row every change-writing transaction updates (see storage/mod.rs).
CREATE TABLE sync_state (
    id  INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO sync_state (id, seq) VALUES (1, 0);
