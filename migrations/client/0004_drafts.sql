-- Forms as the surveyor left them, saved as they type: a draft survives auto-lock, a closed tab
-- and a killed process, and is dropped when its form is saved. Inside the encrypted store, like
-- everything typed. `form` names the form (`household:<id>`, `household:new`, `visit:<id>`,
-- `case:<id>`); `data` is the form's fields as JSON text.
CREATE TABLE drafts (
    form     TEXT PRIMARY KEY,
    data     TEXT NOT NULL,
    saved_at TEXT NOT NULL
) STRICT;
