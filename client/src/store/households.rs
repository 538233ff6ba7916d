//! Household documents and their index rows.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use zoufang_shared::CodeList;
use zoufang_shared::authority::{self, Role, Writer};
use zoufang_shared::doc::{DocError, Editor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::limits;
use zoufang_shared::model::Household;
use zoufang_shared::rules::resident_id::ResidentId;
use zoufang_shared::rules::standards::Standards;

use zoufang_shared::wire::AreaNode;

use super::index::{IndexRow, code_set, parse_code_set};
use super::{Store, StoreError};

/// The settings key of the area tree from enrollment (JSON).
const AREA_TREE: &str = "area_tree";

/// What a list shows. Every filter is optional; `search` matches member names, household number,
/// village and group.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub village: Option<String>,
    pub status: Option<String>,
    pub case_kind: Option<String>,
    pub flag: Option<String>,
    pub search: Option<String>,
    /// Only households not visited since before this day (or never).
    pub not_visited_since: Option<NaiveDate>,
    pub sort: ListSort,
    pub limit: Option<u32>,
    /// Rows skipped before the first one listed (paging).
    pub offset: Option<u32>,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListSort {
    /// By village, then head of household.
    #[default]
    Village,
    /// Longest without a visit first (never visited before all).
    LastVisit,
    /// Most recently changed first.
    Updated,
}

impl ListSort {
    fn order_by(self) -> &'static str {
        match self {
            ListSort::Village => "village, head_name, id",
            ListSort::LastVisit => "last_visit, village, head_name, id",
            ListSort::Updated => "updated_at DESC, id",
        }
    }
}

/// The stored form of [`IndexRow::last_visit`]: `''` for never visited.
fn visit_text(day: Option<NaiveDate>) -> String {
    day.map(|d| d.to_string()).unwrap_or_default()
}

impl Store {
    /// Creates a household under `id` and fills it with `fill`, as one transaction.
    pub fn create_household<R>(
        &mut self,
        id: &HouseholdId,
        fill: impl FnOnce(&mut Editor<'_>) -> Result<R, DocError>,
    ) -> Result<R, StoreError> {
        let identity = self.identity()?;
        let author = identity.author();
        let default_area = self.default_area()?;
        let (writer, ctx) = self.write_rules()?;
        let (mut doc, r) = HouseholdDoc::create_with(id, identity.actor, &author, |e| {
            let r = fill(e)?;
            // A household is created inside the user's area: the server refuses one outside.
            let mut info = e.household()?.info;
            if info.area_code.is_none() && default_area.is_some() {
                info.area_code = default_area;
                e.set_info(&info)?;
            }
            Ok(r)
        })?;
        let household = doc.read()?;
        authority::check(writer, None, &household, &ctx)?;
        limits::check_text(None, &household).map_err(DocError::from)?;
        let salt = self.id_salt()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .query_row(
                "SELECT 1 FROM households WHERE id = ?1",
                [id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            return Err(StoreError::AlreadyExists(id.clone()));
        }
        write_household(&tx, &mut doc, &household, &self.standards, &salt)?;
        tx.commit()?;
        Ok(r)
    }

    /// Edits a household as one change, saved with its index row in one transaction. An edit
    /// that changes nothing writes nothing.
    ///
    /// The document is read inside the write transaction: another process (a sync applying
    /// pulled changes, a second `zoufang edit`) may have saved it since this one last looked, and
    /// writing back a copy loaded earlier would silently drop what that one saved.
    pub fn edit_household<R>(
        &mut self,
        id: &HouseholdId,
        f: impl FnOnce(&mut Editor<'_>) -> Result<R, DocError>,
    ) -> Result<R, StoreError> {
        let identity = self.identity()?;
        let salt = self.id_salt()?;
        let (writer, ctx) = self.write_rules()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut doc = load_doc(&tx, id, identity.actor.clone())?
            .ok_or_else(|| StoreError::NotFound(id.clone()))?;
        let before = doc.read()?;
        let (r, change) = doc.edit(&identity.author(), f)?;
        if change.is_some() {
            // The server checks the same model: an edit it would refuse is not kept here either.
            let after = doc.read()?;
            authority::check(writer, Some(&before), &after, &ctx)?;
            limits::check_text(Some(&before), &after).map_err(DocError::from)?;
            write_household(&tx, &mut doc, &after, &self.standards, &salt)?;
            tx.commit()?;
        }
        Ok(r)
    }

    /// Who this device writes as, and what the write model needs to judge it: the role the
    /// server named at enrollment (a device not enrolled yet writes as a surveyor, the role
    /// with the fewest rights that captures households) and the device's day.
    fn write_rules(&self) -> Result<(Writer, authority::Context), StoreError> {
        let role = self
            .setting("role")?
            .and_then(|r| Role::parse(&r).ok())
            .unwrap_or(Role::Surveyor);
        let today = chrono::Local::now().date_naive();
        Ok((
            Writer::Device(role),
            authority::Context {
                today,
                written_on: today,
            },
        ))
    }

    /// The household's document, opened for this device's actor.
    pub fn doc(&self, id: &HouseholdId) -> Result<HouseholdDoc, StoreError> {
        load_doc(&self.conn, id, self.identity()?.actor)?
            .ok_or_else(|| StoreError::NotFound(id.clone()))
    }

    pub fn household(&self, id: &HouseholdId) -> Result<Household, StoreError> {
        Ok(self.doc(id)?.read()?)
    }

    pub fn contains(&self, id: &HouseholdId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM households WHERE id = ?1",
                [id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The area new households are created in: the first of the user's areas (from enrollment).
    pub fn default_area(&self) -> Result<Option<String>, StoreError> {
        Ok(self.user_areas()?.into_iter().next())
    }

    /// The area codes the user works in, as the server named them at enrollment.
    pub fn user_areas(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .setting("areas")?
            .map(|a| {
                a.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The area tree the server sent at enrollment: `None` before enrollment, and on a device
    /// enrolled with a server or a version that sent none.
    pub fn area_tree(&self) -> Result<Option<Vec<AreaNode>>, StoreError> {
        let Some(json) = self.setting(AREA_TREE)? else {
            return Ok(None);
        };
        match serde_json::from_str(&json) {
            Ok(tree) => Ok(Some(tree)),
            Err(e) => {
                // Only ever written from a parsed answer; unreadable means "not known", which
                // the next enrollment repairs.
                tracing::warn!(error = %e, "stored area tree unreadable");
                Ok(None)
            }
        }
    }

    pub fn set_area_tree(&self, tree: &[AreaNode]) -> Result<(), StoreError> {
        // Strings only: serialising cannot fail.
        let json = serde_json::to_string(tree).unwrap_or_default();
        self.set_setting(AREA_TREE, &json)
    }

    /// Every household of the store, by id.
    pub fn household_ids(&self) -> Result<Vec<HouseholdId>, StoreError> {
        Ok(self
            .texts("SELECT id FROM households ORDER BY id")?
            .into_iter()
            .map(HouseholdId)
            .collect())
    }

    pub(super) fn id_salt(&self) -> Result<String, StoreError> {
        Ok(self.setting("id_salt")?.unwrap_or_default())
    }

    /// The household (other than `except`) where this resident ID is a current member.
    pub fn household_of_person(
        &self,
        id: &ResidentId,
        except: Option<&HouseholdId>,
    ) -> Result<Option<HouseholdId>, StoreError> {
        let salt = self.id_salt()?;
        Ok(self
            .conn
            .query_row(
                "SELECT household_id FROM person_ids WHERE digest = ?1 AND household_id != ?2
                 LIMIT 1",
                params![
                    person_digest(&salt, id),
                    except.map(|h| h.as_str()).unwrap_or("")
                ],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(HouseholdId))
    }

    /// The `WHERE` clause of `filter` and its arguments.
    fn list_where(filter: &ListFilter) -> (String, Vec<String>) {
        let mut sql = String::from(" WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut add = |clause: &str, value: String| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(v) = &filter.village {
            add(" AND village = ?", v.clone());
        }
        if let Some(v) = &filter.status {
            add(" AND status = ?", v.clone());
        }
        if let Some(v) = &filter.case_kind {
            add(" AND open_cases LIKE ?", format!("% {v} %"));
        }
        if let Some(v) = &filter.flag {
            add(" AND flags LIKE ?", format!("% {v} %"));
        }
        if let Some(day) = filter.not_visited_since {
            // '' (never visited) sorts before every date.
            add(" AND coalesce(last_visit, '') < ?", day.to_string());
        }
        if let Some(v) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            add(" AND search LIKE ? ESCAPE '\\'", format!("%{escaped}%"));
        }
        (sql, args)
    }

    pub fn list(&self, filter: &ListFilter) -> Result<Vec<IndexRow>, StoreError> {
        let (clause, args) = Self::list_where(filter);
        let mut sql = format!(
            "SELECT id, household_no, head_name, township, village, grp, status, size,
                    open_cases, flags, updated_at, last_visit
             FROM household_index{clause} ORDER BY {}",
            filter.sort.order_by()
        );
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(
                " LIMIT {limit} OFFSET {}",
                filter.offset.unwrap_or(0)
            ));
        }
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok(IndexRow {
                id: r.get(0)?,
                household_no: r.get(1)?,
                head_name: r.get(2)?,
                township: r.get(3)?,
                village: r.get(4)?,
                group: r.get(5)?,
                status: r.get(6)?,
                size: r.get(7)?,
                open_cases: parse_code_set(&r.get::<_, String>(8)?),
                flags: parse_code_set(&r.get::<_, String>(9)?),
                updated_at: r.get(10)?,
                last_visit: r.get::<_, Option<String>>(11)?.and_then(|t| t.parse().ok()),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many households `filter` matches (its limit and offset aside).
    pub fn count_matching(&self, filter: &ListFilter) -> Result<i64, StoreError> {
        let (clause, args) = Self::list_where(filter);
        let sql = format!("SELECT count(*) FROM household_index{clause}");
        Ok(self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| r.get(0))?)
    }

    /// Works out the latest visit of rows indexed before the column existed.
    pub(super) fn fill_last_visits(&self) -> Result<(), StoreError> {
        let ids = self.texts("SELECT id FROM household_index WHERE last_visit IS NULL")?;
        for id in ids {
            let h = self.household(&HouseholdId(id.clone()))?;
            let last = h.visits.values().map(|v| v.date).max();
            self.conn.execute(
                "UPDATE household_index SET last_visit = ?1 WHERE id = ?2",
                params![visit_text(last), id],
            )?;
        }
        Ok(())
    }

    /// Villages present, for the list's filter.
    pub fn villages(&self) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT DISTINCT village FROM household_index WHERE village IS NOT NULL ORDER BY 1",
        )
    }

    pub fn count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM households", [], |r| r.get(0))?)
    }
}

/// The stored document of `id`, if any, as `conn` (or the transaction it is) sees it now.
pub(super) fn load_doc(
    conn: &rusqlite::Connection,
    id: &HouseholdId,
    actor: zoufang_shared::doc::ActorId,
) -> Result<Option<HouseholdDoc>, StoreError> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT doc FROM households WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(bytes.map(|b| HouseholdDoc::load(&b, actor)).transpose()?)
}

/// Saves `doc` and everything derived from it inside `tx`.
pub(super) fn write_doc(
    tx: &Transaction<'_>,
    doc: &mut HouseholdDoc,
    standards: &Standards,
    salt: &str,
) -> Result<(), StoreError> {
    let household = doc.read()?;
    write_household(tx, doc, &household, standards, salt)
}

/// As [`write_doc`], with the household already read from `doc`.
fn write_household(
    tx: &Transaction<'_>,
    doc: &mut HouseholdDoc,
    household: &Household,
    standards: &Standards,
    salt: &str,
) -> Result<(), StoreError> {
    let conflicts = doc.conflicts()?.len();
    let now = chrono::Utc::now().to_rfc3339();
    let today = chrono::Local::now().date_naive();
    let row = IndexRow::of(household, conflicts, standards, today, now.clone());
    let id = household.id.as_str();
    tx.execute(
        "INSERT INTO households(id, doc, dirty, updated_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, dirty = 1,
             updated_at = excluded.updated_at",
        params![id, doc.save(), now],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO household_index(id, household_no, head_name, township,
             village, grp, status, size, open_cases, flags, search, updated_at, last_visit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            id,
            row.household_no,
            row.head_name,
            row.township,
            row.village,
            row.group,
            row.status,
            row.size,
            code_set(&row.open_cases),
            code_set(&row.flags),
            IndexRow::search_text(household),
            row.updated_at,
            visit_text(row.last_visit),
        ],
    )?;
    tx.execute("DELETE FROM person_ids WHERE household_id = ?1", [id])?;
    for (_, m) in household.current_members() {
        if let Some(rid) = m
            .id_number
            .as_deref()
            .and_then(|t| ResidentId::parse(t).ok())
        {
            tx.execute(
                "INSERT OR IGNORE INTO person_ids(digest, household_id) VALUES (?1, ?2)",
                params![person_digest(salt, &rid), id],
            )?;
        }
    }
    Ok(())
}

fn person_digest(salt: &str, id: &ResidentId) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(id.as_str().as_bytes())
        .finalize();
    hex(&digest)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
