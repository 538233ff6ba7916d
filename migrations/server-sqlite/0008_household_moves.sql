-- Households that changed area, one row per move, so a pull can tell a device which households
-- left its user's areas (protocol 5, `SyncResponse::gone`): since 0007 the changes log follows a
-- household to its new area and no longer shows the move to the old one. `seq` is drawn from
-- the change log's counter (sync_state) in the moving transaction, under the same write lock
-- as its changes, so a pull's cursor covers moves exactly as it covers changes.
CREATE TABLE household_moves (
    seq          INTEGER PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households(id),
    from_area    TEXT NOT NULL,
    to_area      TEXT NOT NULL
);
