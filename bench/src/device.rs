//! A field device as the bench drives it: the client library's store, roster import and sync,
//! in-process; and the edits a surveyor makes at a visit.

use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use zoufang_client::import;
use zoufang_client::roster_gen::{self, RosterHousehold};
use zoufang_client::store::{ListFilter, Store};
use zoufang_client::sync::{self, SyncReport};
use zoufang_shared::codes::{Satisfaction, VisitMode};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::Visit;
use zoufang_shared::rng::Draw as _;

use crate::Res;
use crate::server::PASSWORD;

/// The day every generated roster and visit is dated on, so a seed gives the same households
/// on any day the bench runs.
pub fn data_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 25).unwrap_or_default()
}

/// `count` households of 凤庆县 (3–5 members), the same for the same seed.
pub fn roster(count: usize, seed: u64) -> Vec<RosterHousehold> {
    roster_gen::generate(count, seed, data_day())
}

/// The seeded generator of the choices the bench makes.
pub use zoufang_shared::rng::SplitMix64 as Rng;

/// The passphrase of every bench device's store.
pub const PASSPHRASE: &str = "bench-passphrase";

pub struct Device {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Device {
    /// A new device used by `user`.
    pub fn new(user: &str) -> Res<Device> {
        let dir = tempfile::tempdir().map_err(|e| format!("device dir: {e}"))?;
        let mut store =
            Store::create(dir.path(), PASSPHRASE).map_err(|e| format!("open store: {e}"))?;
        store
            .init(user, user)
            .map_err(|e| format!("init device: {e}"))?;
        Ok(Device { dir, store })
    }

    /// Enrolls at `server` as `user`.
    pub async fn enroll(&self, server: &str, user: &str) -> Res<()> {
        sync::enroll(&self.store, server, user, PASSWORD, "bench")
            .await
            .map(|_| ())
            .map_err(|e| format!("enroll {user}: {e}"))
    }

    /// Points the device at another address of its server (a link in front of it).
    pub fn point_at(&self, server: &str) -> Res<()> {
        self.store
            .set_setting("server_url", server)
            .map_err(|e| format!("set server_url: {e}"))
    }

    /// Imports `households` as the national roster CSV; every one must be imported.
    pub fn import(&mut self, households: &[RosterHousehold]) -> Res<f64> {
        let csv = roster_gen::to_csv(households);
        let t = Instant::now();
        let report = import::import(&mut self.store, csv.as_bytes(), data_day())
            .map_err(|e| format!("import: {e}"))?;
        if report.imported != households.len() {
            return Err(format!(
                "imported {} of {} households: {:?}",
                report.imported,
                households.len(),
                report.bad.first()
            ));
        }
        Ok(t.elapsed().as_secs_f64())
    }

    /// One sync, which must complete with nothing rejected; the report and its wall time.
    pub async fn sync(&mut self) -> Res<(SyncReport, f64)> {
        let t = Instant::now();
        let r = sync::sync(&mut self.store, |_| {})
            .await
            .map_err(|e| format!("sync: {e}"))?;
        let took = t.elapsed().as_secs_f64();
        if !r.rejected.is_empty() || r.incomplete {
            return Err(format!(
                "sync rejected {} households (first: {:?}), incomplete: {}",
                r.rejected.len(),
                r.rejected.first(),
                r.incomplete
            ));
        }
        Ok((r, took))
    }

    /// The next sync round's request, built now so that sending it later costs the device
    /// almost nothing (W3 measures the server, not its neighbours).
    pub fn prepare(&self) -> Res<(sync::Round, SyncReport)> {
        let mut report = SyncReport::default();
        let round = sync::prepare_round(&self.store, &mut report)
            .map_err(|e| format!("prepare a sync: {e}"))?;
        Ok((round, report))
    }

    /// Sends a prepared round and reads the answer's bytes, undecoded; its wall time, or `None`
    /// when the server shed it as busy (the work is then done by [`Device::finish`]).
    pub async fn send(
        &self,
        http: &reqwest::Client,
        round: &sync::Round,
    ) -> Res<(Option<Vec<u8>>, f64)> {
        let setting = |key: &str| -> Res<String> {
            self.store
                .setting(key)
                .map_err(|e| format!("{key}: {e}"))?
                .ok_or_else(|| format!("not enrolled: no {key}"))
        };
        let t = Instant::now();
        let res = http
            .post(format!("{}/api/sync", setting("server_url")?))
            .bearer_auth(setting("token")?)
            .header(
                reqwest::header::CONTENT_TYPE,
                zoufang_shared::wire::SYNC_CONTENT_TYPE,
            )
            .body(round.body.clone())
            .send()
            .await
            .map_err(|e| format!("send a sync: {}", with_causes(&e)))?;
        if res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok((None, t.elapsed().as_secs_f64()));
        }
        if !res.status().is_success() {
            return Err(format!("sync answered {}", res.status()));
        }
        let bytes = res.bytes().await.map_err(|e| format!("sync answer: {e}"))?;
        Ok((Some(bytes.to_vec()), t.elapsed().as_secs_f64()))
    }

    /// Applies a prepared round's answer, then syncs whatever it left (more pages, a busy
    /// answer): the report of the measured round alone, and the rounds synced after it.
    pub async fn finish(
        &mut self,
        round: &sync::Round,
        answer: Option<&[u8]>,
        mut report: SyncReport,
    ) -> Res<(SyncReport, usize)> {
        let again = match answer {
            Some(bytes) => sync::apply_round(&mut self.store, round, bytes, &mut report)
                .map_err(|e| format!("apply a sync: {e}"))?,
            None => true,
        };
        if !report.rejected.is_empty() {
            return Err(format!(
                "sync rejected {} households (first: {:?})",
                report.rejected.len(),
                report.rejected.first()
            ));
        }
        let after = if again {
            self.sync().await?.0.rounds
        } else {
            0
        };
        Ok((report, after))
    }

    /// Every household's id, in list order.
    pub fn ids(&self) -> Res<Vec<String>> {
        Ok(self
            .store
            .list(&ListFilter::default())
            .map_err(|e| format!("list: {e}"))?
            .into_iter()
            .map(|r| r.id)
            .collect())
    }

    /// A household as JSON: what a whole-record system would send, what a document store holds.
    pub fn json(&self, id: &str) -> Res<Value> {
        let h = self
            .store
            .household(&HouseholdId::from(id))
            .map_err(|e| format!("read {id}: {e}"))?;
        serde_json::to_value(&h).map_err(|e| format!("household JSON: {e}"))
    }
}

/// What a surveyor records at a visit: the visit, and ~15 form fields changed (phone,
/// 两不愁三保障 answers, housing, water, this year's income). `round` varies the values so a
/// later visit changes them again.
pub fn visit_edits(rng: &mut Rng, round: u32) -> (Visit, Vec<(String, Value)>) {
    let day = data_day() + chrono::Days::new(u64::from(round));
    let visit = Visit {
        date: day,
        visitor: "张调查".into(),
        visitor_user: Some("bench".into()),
        mode: VisitMode::InPerson,
        household_present: Some(rng.below(10) > 0),
        notes: format!(
            "第 {} 次走访:核实收入与住房,{}。",
            round + 1,
            ["户主在家", "户主外出务工,配偶在家", "全家在家"][rng.below(3) as usize]
        ),
        policies_known: ["医保、低保", "医保、养老保险", "医保、教育资助"][rng.below(3) as usize]
            .into(),
        satisfaction: Some(Satisfaction::Satisfied),
        attachments: Default::default(),
    };
    let income = |item: &str| format!("incomes.{}.{item}", day.year());
    let r = u64::from(round);
    let even = round.is_multiple_of(2);
    let fields: Vec<(String, Value)> = vec![
        (
            "info.phone".into(),
            format!("139{:08}", rng.below(100_000_000)).into(),
        ),
        ("info.food_secure".into(), true.into()),
        ("info.clothing_secure".into(), even.into()),
        (
            "living.house_grade".into(),
            ["a", "b"][(round % 2) as usize].into(),
        ),
        ("living.house_area_m2".into(), (60 + rng.below(80)).into()),
        ("living.sanitary_toilet".into(), even.into()),
        ("living.living_power".into(), true.into()),
        (
            "water.litres_per_person_day".into(),
            (40 + rng.below(60)).into(),
        ),
        ("water.trip_minutes".into(), (1 + rng.below(20)).into()),
        ("water.cut_days_per_year".into(), (r + rng.below(10)).into()),
        ("water.quality_tested".into(), even.into()),
        (income("wage"), (100 * (12_000 + rng.below(20_000))).into()),
        (
            income("planting"),
            (100 * (1_000 + rng.below(5_000))).into(),
        ),
        (
            income("transfer_other"),
            (100 * (500 + rng.below(3_000))).into(),
        ),
        (
            income("production_cost"),
            (100 * (300 + rng.below(1_500))).into(),
        ),
    ];
    (visit, fields)
}

/// A visit as the UI records it on a device: the visit, then the form saved with its fields
/// changed ([`visit_edits`]); two saves. Returns the edits themselves as JSON (`visit`,
/// `fields`): what the least possible upload would carry.
pub fn visit_and_edit(store: &mut Store, id: &str, rng: &mut Rng, round: u32) -> Res<Value> {
    let hid = HouseholdId::from(id);
    let (visit, fields) = visit_edits(rng, round);
    store
        .edit_household(&hid, |e| e.add_visit(&visit).map(|_| ()))
        .map_err(|e| format!("visit {id}: {e}"))?;
    store
        .edit_household(&hid, |e| {
            for (path, value) in &fields {
                e.set_field(path, value.clone())?;
            }
            Ok(())
        })
        .map_err(|e| format!("form save {id}: {e}"))?;
    let visit = serde_json::to_value(&visit).map_err(|e| format!("visit JSON: {e}"))?;
    Ok(json!({
        "household": id,
        "visit": visit,
        "fields": fields.into_iter().collect::<serde_json::Map<String, Value>>(),
    }))
}

/// An error with the errors beneath it: reqwest's own text ("error sending request") does not
/// say whether the connection was refused, reset or timed out.
fn with_causes(e: &dyn std::error::Error) -> String {
    std::iter::successors(Some(e), |c| c.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
