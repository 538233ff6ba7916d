//! W1, the evening sync, and W2, the first download of a township, against a real
//! `zoufang-server` on SQLite, through counting links; with the peers doing the same work.

use serde_json::Value;
use zoufang_server::demo::DEMO_AREAS_CSV;

use crate::device::{self, Device, Rng, visit_and_edit};
use crate::link::{Link, LinkCounts, LinkSpec};
use crate::peers::{self, Sink};
use crate::pouch::{self, PeerDoc};
use crate::server::{self, ScratchDb, Server};
use crate::table::{Table, Target, bytes, secs, thousands, trips};
use crate::{Ctx, Res};
use zoufang_shared::rng::Draw as _;

/// 诗礼乡: W2's township. 小湾镇: W1's device works there.
const W2_TOWNSHIP: &str = "530921100";
const W1_AREA: &str = "530921200";

pub fn run(ctx: &Ctx, table: &mut Table, w1: bool, w2: bool) -> Res<()> {
    let s = &ctx.sizes;
    let db = ScratchDb::sqlite()?;
    server::import_areas(&ctx.server_bin, db.url(), DEMO_AREAS_CSV)?;
    server::add_users(
        &ctx.server_bin,
        db.url(),
        &[
            ("w1".into(), "surveyor", W1_AREA.into()),
            ("w2-up".into(), "surveyor", W2_TOWNSHIP.into()),
            ("w2-new".into(), "surveyor", W2_TOWNSHIP.into()),
        ],
    )?;
    let srv = Server::start(&ctx.server_bin, db.url())?;
    // One roster, so no two households share a resident ID.
    let roster = device::roster(s.w1_scope + s.w2_township, ctx.seed);
    let (w1_roster, w2_roster) = roster.split_at(s.w1_scope);
    ctx.rt.block_on(async {
        if w1 {
            evening(ctx, table, &srv, w1_roster).await?;
        }
        if w2 {
            first_download(table, &srv, w2_roster).await?;
        }
        Ok(())
    })
}

/// A PouchDB replication's figures: bytes each way, round trips, time.
fn replication(p: &pouch::ReplicationFigures) -> String {
    format!(
        "{} up / {} down, {}, {}",
        bytes(p.bytes_up),
        bytes(p.bytes_down),
        trips(p.round_trips),
        secs(p.seconds)
    )
}

fn traffic(c: &LinkCounts) -> String {
    format!("{} up / {} down", bytes(c.bytes_up), bytes(c.bytes_down))
}

async fn evening(
    ctx: &Ctx,
    table: &mut Table,
    srv: &Server,
    roster: &[zoufang_client::roster_gen::RosterHousehold],
) -> Res<()> {
    let (scope, edited) = (ctx.sizes.w1_scope, ctx.sizes.w1_edited);
    crate::progress(format!("W1: {scope} households in scope, {edited} edited"));
    let loopback = Link::start(&srv.url, LinkSpec::LOOPBACK).await?;
    let slow = Link::start(&srv.url, LinkSpec::SLOW_2G).await?;
    let mut a = Device::new("w1")?;
    a.enroll(&srv.url, "w1").await?;
    a.import(roster)?;
    let (first, t_first) = a.sync().await?;
    let ids = a.ids()?;
    if ids.len() != scope {
        return Err(format!(
            "W1 device holds {} households, not {scope}",
            ids.len()
        ));
    }
    let mut rng = Rng::new(ctx.seed ^ 0x5731);
    let chosen = rng.sample(&ids, edited);
    let pouch_ready = pouch::available();
    let initial: Vec<PeerDoc> = if pouch_ready.is_ok() {
        ids.iter()
            .map(|id| {
                Ok(PeerDoc {
                    id: id.clone(),
                    json: a.json(id)?,
                })
            })
            .collect::<Res<_>>()?
    } else {
        Vec::new()
    };

    // The evening: a visit and ~15 fields in each of the chosen households.
    let mut edits = Vec::with_capacity(edited);
    for id in &chosen {
        edits.push(visit_and_edit(&mut a.store, id, &mut rng, 0)?);
    }
    let mut whole = Vec::with_capacity(edited);
    let mut edited_docs = Vec::new();
    let mut json_bytes = 0usize;
    for id in &chosen {
        let json = a.json(id)?;
        let raw = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
        json_bytes += raw.len();
        whole.push(peers::gzip(&raw)?);
        if pouch_ready.is_ok() {
            edited_docs.push(PeerDoc {
                id: id.clone(),
                json,
            });
        }
    }

    let (pending, _) = a
        .store
        .pending_pushes(usize::MAX)
        .map_err(|e| format!("pending pushes: {e}"))?;
    let anatomy = Anatomy::of(&pending)?;

    a.point_at(&loopback.url)?;
    let before = loopback.counts();
    let (ev, t_ev) = a.sync().await?;
    let ours = loopback.counts() - before;
    if ev.accepted != edited {
        return Err(format!("W1: server accepted {} of {edited}", ev.accepted));
    }

    // The next evening, the same households visited again, synced over 2G.
    for id in &chosen {
        visit_and_edit(&mut a.store, id, &mut rng, 1)?;
    }
    a.point_at(&slow.url)?;
    let before = slow.counts();
    let (ev2, t_slow) = a.sync().await?;
    let ours_slow = slow.counts() - before;
    if ev2.accepted != edited {
        return Err(format!(
            "W1 over 2G: server accepted {} of {edited}",
            ev2.accepted
        ));
    }
    a.point_at(&srv.url)?;

    // Whole records, one POST each, on loopback and over the same 2G link.
    crate::progress("W1: whole-record uploads (loopback, then 2G)");
    let sink = Sink::start().await?;
    let sink_loop = Link::start(&sink.url, LinkSpec::LOOPBACK).await?;
    let (wr, t_wr) = peers::upload_whole(&sink_loop, &whole).await?;
    let slow_whole = if ctx.quick {
        None
    } else {
        let sink_slow = Link::start(&sink.url, LinkSpec::SLOW_2G).await?;
        Some(peers::upload_whole(&sink_slow, &whole).await?)
    };

    // The limit: the edits alone, compressed, in one round trip.
    let edits_json = serde_json::to_vec(&Value::Array(edits)).map_err(|e| e.to_string())?;
    let limit = peers::deflate_best(&edits_json)?.len() as u64;

    let pouch = match pouch_ready {
        Ok(()) => {
            crate::progress("W1: PouchDB replication");
            pouch::w1(&initial, &edited_docs).await
        }
        Err(e) => Err(e),
    };

    // --- the table
    let ours_total = ours.bytes_up + ours.bytes_down;
    table.section(format!(
        "W1 evening sync: one device, {} households in scope, {} edited (a visit + 15 fields \
         each); zoufang-server on SQLite",
        thousands(scope as u64),
        thousands(edited as u64)
    ));
    table.row(
        format!(
            "setup: first upload of {} households",
            thousands(scope as u64)
        ),
        format!(
            "{}, {}, {}",
            bytes((first.bytes_up + first.bytes_down) as u64),
            trips(first.rounds as u64),
            secs(t_first)
        ),
    );
    table.row(
        "Zoufang: bytes on the wire (HTTP included)",
        format!(
            "{} (bodies {} / {}; changes {} before compression)",
            traffic(&ours),
            bytes(ev.bytes_up as u64),
            bytes(ev.bytes_down as u64),
            bytes(ev.pushed_bytes as u64)
        ),
    );
    table.row("Zoufang: what the upload carries", anatomy.describe());
    // Our bytes, both ways, against a peer's: the figure and the target.
    let fewer_bytes = |theirs: u64, factor: f64, goal: &str| {
        (
            format!("{} vs {}", bytes(ours_total), bytes(theirs)),
            Target::fewer(ours_total as f64, theirs as f64, factor, goal),
        )
    };
    let (figure, target) = fewer_bytes(
        wr.bytes_up + wr.bytes_down,
        10.0,
        ">= 10x fewer than whole-record",
    );
    table.target("Zoufang: bytes, both ways, vs whole-record", figure, target);
    match &pouch {
        Ok(p) => {
            let (figure, target) =
                fewer_bytes(p.bytes_up + p.bytes_down, 5.0, ">= 5x fewer than PouchDB");
            table.target("Zoufang: bytes, both ways, vs PouchDB", figure, target);
        }
        Err(e) => table.na("Zoufang: bytes, both ways, vs PouchDB", e),
    }
    table.target(
        "Zoufang: round trips (HTTP requests)",
        ours.requests.to_string(),
        Target::at_most(ours.requests as f64, 3.0, "<= 3"),
    );
    table.row("Zoufang: time on loopback", secs(t_ev));
    table.target(
        format!("Zoufang: time over 2G ({})", slow.spec.describe()),
        format!(
            "{} ({}, {}; next evening's visit)",
            secs(t_slow),
            bytes(ours_slow.bytes_up + ours_slow.bytes_down),
            trips(ours_slow.requests)
        ),
        Target::at_most(t_slow, 30.0, "< 30 s"),
    );
    table.row(
        "whole-record (gzip JSON, one POST each): bytes",
        format!("{} ({} of JSON)", traffic(&wr), bytes(json_bytes as u64)),
    );
    let slow_text = match &slow_whole {
        Some((c, t)) => format!("{} over 2G ({})", secs(*t), trips(c.requests)),
        None => format!(
            "2G not run in --quick (>= {} computed)",
            secs(LinkSpec::SLOW_2G.ideal_seconds(wr.bytes_up, wr.bytes_down, wr.requests))
        ),
    };
    table.row(
        "whole-record: round trips, time",
        format!("{}, {} on loopback, {slow_text}", wr.requests, secs(t_wr)),
    );
    match &pouch {
        Ok(p) => table.row(
            "PouchDB replication: bytes, round trips, time",
            replication(p),
        ),
        Err(e) => table.na("PouchDB replication", e),
    }
    table.row(
        "limit: the edits alone (compact JSON, deflate), 1 round trip",
        format!(
            "{} ({} JSON); over 2G >= {} (computed)",
            bytes(limit),
            bytes(edits_json.len() as u64),
            secs(LinkSpec::SLOW_2G.ideal_seconds(limit, 0, 1))
        ),
    );
    table.row(
        "Zoufang vs the limit",
        format!(
            "{:.1}x the limit's bytes, {} vs 1",
            ours_total as f64 / limit.max(1) as f64,
            trips(ours.requests)
        ),
    );
    Ok(())
}

/// What a device's pushes are made of: the parts of Automerge changes that do not compress
/// (hashes, actor ids) beside the rest.
struct Anatomy {
    households: usize,
    changes: usize,
    raw: usize,
    have_hashes: usize,
    dep_hashes: usize,
    actor_ids: usize,
    message_bytes: usize,
    ops: usize,
    deflated: usize,
}

impl Anatomy {
    fn of(pending: &[zoufang_client::store::PendingPush]) -> Res<Anatomy> {
        let mut a = Anatomy {
            households: pending.len(),
            changes: 0,
            raw: 0,
            have_hashes: 0,
            dep_hashes: 0,
            actor_ids: 0,
            message_bytes: 0,
            ops: 0,
            deflated: 0,
        };
        let mut all = Vec::new();
        for p in pending {
            for bytes in &p.changes {
                let c = automerge::Change::from_bytes(bytes.clone())
                    .map_err(|e| format!("a pending change does not load: {e}"))?;
                a.changes += 1;
                a.raw += bytes.len();
                a.dep_hashes += c.deps().len();
                a.actor_ids += 1 + c.other_actor_ids().len();
                a.message_bytes += c.message().map_or(0, str::len);
                a.ops += c.len();
                all.extend_from_slice(bytes);
            }
        }
        a.deflated = peers::deflate_best(&all)?.len();
        Ok(a)
    }

    fn describe(&self) -> String {
        let per = |n: usize| n as f64 / self.households.max(1) as f64;
        format!(
            "per household {:.1} changes, {:.0} B ({:.0} B deflated): hashes {:.0} B (have {:.1}, \
             deps {:.1}), actor ids {:.0} B, author messages {:.0} B, {:.0} ops in the rest",
            per(self.changes),
            per(self.raw),
            per(self.deflated),
            per(32 * (self.have_hashes + self.dep_hashes)),
            per(self.have_hashes),
            per(self.dep_hashes),
            per(16 * self.actor_ids),
            per(self.message_bytes),
            per(self.ops)
        )
    }
}

async fn first_download(
    table: &mut Table,
    srv: &Server,
    roster: &[zoufang_client::roster_gen::RosterHousehold],
) -> Res<()> {
    let n = roster.len();
    crate::progress(format!("W2: {n} households pushed, then downloaded"));
    let loopback = Link::start(&srv.url, LinkSpec::LOOPBACK).await?;
    let mut up = Device::new("w2-up")?;
    up.enroll(&srv.url, "w2-up").await?;
    let t_import = up.import(roster)?;
    let (push, t_push) = up.sync().await?;
    if push.accepted != n {
        return Err(format!("W2: server accepted {} of {n}", push.accepted));
    }

    let mut fresh = Device::new("w2-new")?;
    fresh.enroll(&loopback.url, "w2-new").await?;
    let before = loopback.counts();
    let (down, t_down) = fresh.sync().await?;
    let c = loopback.counts() - before;
    let ids = fresh.ids()?;
    if ids.len() != n {
        return Err(format!(
            "W2: the new device holds {} of {n} households",
            ids.len()
        ));
    }

    // The same records as one gzip JSON stream: what a plain export of them would weigh.
    let mut all = Vec::with_capacity(n);
    for id in &ids {
        all.push(fresh.json(id)?);
    }
    let json = serde_json::to_vec(&all).map_err(|e| e.to_string())?;
    let gz = peers::gzip(&json)?.len() as u64;
    let pouch = match pouch::available() {
        Ok(()) => {
            crate::progress("W2: PouchDB replication");
            let docs: Vec<PeerDoc> = ids
                .iter()
                .cloned()
                .zip(all)
                .map(|(id, json)| PeerDoc { id, json })
                .collect();
            pouch::w2(&docs).await
        }
        Err(e) => Err(e),
    };

    table.section(format!(
        "W2 first download: a township of {} households to a new device; zoufang-server on SQLite",
        thousands(n as u64)
    ));
    table.row(
        format!(
            "setup: one device imports and pushes {} new households",
            thousands(n as u64)
        ),
        format!(
            "import {}, push {} in {}, {} = {:.0} merges/s",
            secs(t_import),
            bytes(push.bytes_up as u64),
            trips(push.rounds as u64),
            secs(t_push),
            n as f64 / t_push
        ),
    );
    table.row(
        "Zoufang: bytes on the wire",
        format!(
            "{} ({} changes pulled)",
            traffic(&c),
            thousands(down.pulled_changes as u64)
        ),
    );
    table.target(
        "Zoufang: round trips (HTTP requests)",
        c.requests.to_string(),
        Target::at_most(c.requests as f64, 3.0, "<= 3"),
    );
    table.row(
        "Zoufang: time on loopback (download + store)",
        format!("{} = {:.0} households/s", secs(t_down), n as f64 / t_down),
    );
    table.row(
        "Zoufang: time over 2G (computed from bytes and round trips)",
        format!(
            ">= {}",
            secs(LinkSpec::SLOW_2G.ideal_seconds(c.bytes_up, c.bytes_down, c.requests))
        ),
    );
    table.row(
        "reference: the same records as one gzip JSON stream",
        format!(
            "{} ({} JSON); Zoufang's download is {:.2}x it",
            bytes(gz),
            bytes(json.len() as u64),
            c.bytes_down as f64 / gz.max(1) as f64
        ),
    );
    match &pouch {
        Ok(p) => table.row(
            "PouchDB first replication: bytes, round trips, time",
            replication(p),
        ),
        Err(e) => table.na("PouchDB first replication", e),
    }
    Ok(())
}
