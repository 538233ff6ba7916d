-- Restores from a backup (see server/src/backup.rs). The newest row names the change log since
-- the restore: devices see its log_id in their scope key, pull from the start and send
-- everything again. While its recovery window is open (until window_until, or until an admin
-- closes it), a device may re-send changes of another enrolled device that the restore lost;
-- each one is recorded in restore_recovered for audit.

CREATE TABLE restore_points (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    log_id       TEXT NOT NULL UNIQUE,
    restored_at  TEXT NOT NULL,
    -- The log's counter when restored: changes above it arrived after the restore.
    seq          INTEGER NOT NULL,
    -- The backup file restored from, or how it was restored.
    source       TEXT NOT NULL,
    window_until TEXT NOT NULL,
    closed_at    TEXT
);

-- Changes accepted under another device's actor during a recovery window. Written before the
-- sync's own transaction commits, so a recovered change never lacks its row (a row whose change
-- is not in the log is a merge that did not commit).
CREATE TABLE restore_recovered (
    restore_id   INTEGER NOT NULL REFERENCES restore_points (id),
    household_id TEXT NOT NULL,
    hash         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    -- The enrolled device the actor belongs to, and the device that sent the change.
    actor_device TEXT NOT NULL,
    pushed_by    TEXT NOT NULL,
    -- When the change says it was made (the writing device's clock).
    change_time  TEXT,
    at           TEXT NOT NULL,
    PRIMARY KEY (restore_id, household_id, hash)
);

-- Devices that have synced since the restore (so the admin knows when to close the window).
CREATE TABLE restore_resynced (
    restore_id INTEGER NOT NULL REFERENCES restore_points (id),
    device_id  TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (restore_id, device_id)
);
