-- The county's income standards table (issue 18): the server is its authority, devices receive
-- it at sync. One row: the validated JSON as imported, its digest (what devices compare), and
-- when it was imported. No row: the built-in table applies.
CREATE TABLE standards (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    json        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
