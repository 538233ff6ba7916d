-- The areas behind each scope key a user's devices may still hold: when a user's areas are
-- replaced, the old set is kept under its key (`crate::areas::scope_key`), so the next sync of
-- a device still on the old key can name the households that left its areas (protocol 5,
-- `SyncResponse::gone`) and the device drops them. `areas` is the sorted codes joined by ",".
CREATE TABLE past_scopes (
    scope_key TEXT PRIMARY KEY,
    areas     TEXT NOT NULL
);

-- A device's own changes numbered up to `own_resent_until` are pulled like anyone's: set when
-- its user's areas change, because the device may have dropped households whose history it
-- alone wrote, and would otherwise never receive them again when they come back into scope.
ALTER TABLE devices ADD COLUMN own_resent_until INTEGER NOT NULL DEFAULT 0;
