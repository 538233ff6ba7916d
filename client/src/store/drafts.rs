//! Drafts: forms as the surveyor left them, kept until the form is saved (see
//! `migrations/client/0004_drafts.sql`).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The most a draft may hold: a household form with many members is a few tens of KiB.
pub const MAX_DRAFT_BYTES: usize = 256 * 1024;

/// Whether `form` names a form a draft may be kept for: `household:new`, or a kind and an id
/// of letters, digits, `-` and `_`.
pub fn valid_form_key(form: &str) -> bool {
    let Some((kind, id)) = form.split_once(':') else {
        return false;
    };
    matches!(kind, "household" | "visit" | "case")
        && !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Store {
    /// Keeps `data` (the form's fields as JSON text) as the draft of `form`, replacing the last.
    pub fn put_draft(&self, form: &str, data: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO drafts(form, data, saved_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(form) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at",
            params![form, data, chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    /// The draft of `form`, if one is kept.
    pub fn draft(&self, form: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT data FROM drafts WHERE form = ?1", [form], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Drops the draft of `form` (its form was saved or discarded).
    pub fn delete_draft(&self, form: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM drafts WHERE form = ?1", [form])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_form_key;

    #[test]
    fn form_keys_name_a_form_kind_and_an_id() {
        for ok in [
            "household:new",
            "household:hh-530921",
            "visit:abc_1",
            "case:x",
        ] {
            assert!(valid_form_key(ok), "{ok}");
        }
        for bad in [
            "",
            "household",
            "household:",
            "sync:1",
            "visit:a/b",
            "case:a b",
        ] {
            assert!(!valid_form_key(bad), "{bad}");
        }
    }
}
