-- Pushes the server refused, kept for the person at the device to see (cleared when the same
-- household is accepted later).
CREATE TABLE sync_rejections (
    household_id TEXT PRIMARY KEY,
    code         TEXT NOT NULL,
    message      TEXT NOT NULL,
    at           TEXT NOT NULL
) STRICT;
