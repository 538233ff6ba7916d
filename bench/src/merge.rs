//! The server's merge of one pushed household, in process and by stage: what W3's merges/s is
//! made of once HTTP, the database and the devices are taken away.
//!
//! Households come from the demo county generator (the documents W4 measures); each gets the
//! edits of a visit ([`device::visit_edits`]) made on a device fork, and the server's steps are
//! then timed one by one over all households, in the order `server::sync` runs them. Last, the
//! incremental save (append a merge's changes, replay them at the next load) is set beside the
//! whole save for households of 0, 10 and 40 visits: the figures it was judged by.

use std::collections::HashSet;
use std::time::Instant;

use zoufang_server::actor::server_actor;
use zoufang_server::demo::{self, CountySpec};
use zoufang_server::projection::{self, Projection};
use zoufang_shared::authority::{self, Role, Writer};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc, IncomingChange};

use crate::device::{Rng, data_day, visit_edits};
use crate::table::{Table, bytes, thousands};
use crate::{Ctx, Res};

/// One household as the server holds it, and a device's push for it.
struct Case {
    id: String,
    stored: Vec<u8>,
    changes: Vec<Vec<u8>>,
}

/// `n` demo households, each stored after `earlier` visits (with their forms), and a device's
/// push of one more visit.
fn cases_after(n: usize, seed: u64, earlier: u32) -> Res<Vec<Case>> {
    let county = demo::plan(&CountySpec::new(n, seed, data_day()));
    let writes = county
        .build(0..n)
        .map_err(|e| format!("demo documents: {e}"))?;
    let mut rng = Rng::new(seed);
    let device = ActorId::from([7u8; 16]);
    let author = ChangeAuthor::new("bench", "bench-device", chrono::Utc::now());
    let visit = |doc: &mut HouseholdDoc, rng: &mut Rng, round: u32| -> Res<()> {
        let (visit, fields) = visit_edits(rng, round);
        doc.edit(&author, |e| e.add_visit(&visit).map(|_| ()))
            .map_err(|e| format!("visit: {e}"))?;
        doc.edit(&author, |e| {
            for (path, value) in &fields {
                e.set_field(path, value.clone())?;
            }
            Ok(())
        })
        .map(|_| ())
        .map_err(|e| format!("form: {e}"))
    };
    writes
        .into_iter()
        .map(|w| {
            let created = w.doc.as_slice();
            let mut doc = HouseholdDoc::load(created, device.clone())
                .map_err(|e| format!("load {}: {e}", w.id))?;
            for round in 0..earlier {
                visit(&mut doc, &mut rng, round)?;
            }
            let stored = if earlier == 0 {
                created.to_vec()
            } else {
                doc.save()
            };
            let before = doc.heads();
            visit(&mut doc, &mut rng, earlier)?;
            Ok(Case {
                stored,
                id: w.id,
                changes: doc.changes_after(&before),
            })
        })
        .collect()
}

/// Runs `f` on every item and returns the mean time per item.
fn per_item<T, R>(items: &mut [T], mut f: impl FnMut(&mut T) -> Res<R>) -> Res<(f64, Vec<R>)> {
    let t = Instant::now();
    let out = items.iter_mut().map(&mut f).collect::<Res<Vec<R>>>()?;
    Ok((t.elapsed().as_secs_f64() / items.len().max(1) as f64, out))
}

fn us(s: f64) -> String {
    format!("{:.0} µs", s * 1e6)
}

pub fn run(ctx: &Ctx, table: &mut Table) -> Res<()> {
    let n = ctx.sizes.merge;
    crate::progress(format!("merge stages: {n} households"));
    let mut cases = cases_after(n, ctx.seed, 0)?;
    let stored_bytes: usize = cases.iter().map(|c| c.stored.len()).sum();

    let (load, mut docs) = per_item(&mut cases, |c| {
        HouseholdDoc::load(&c.stored, server_actor()).map_err(|e| format!("load {}: {e}", c.id))
    })?;
    // The projection as stored before the push (not timed: the server keeps it).
    let projected_before = docs
        .iter_mut()
        .zip(cases.iter())
        .map(|(doc, c)| projection::project(&c.id, doc).map_err(|e| format!("project: {e}")))
        .collect::<Res<Vec<_>>>()?;
    let mut pairs: Vec<(HouseholdDoc, &Case)> = docs.drain(..).zip(cases.iter()).collect();
    // The household before the push, for the write model to compare with.
    let (read_before, mut befores) = per_item(&mut pairs, |(doc, _)| {
        doc.read().map_err(|e| format!("read: {e}"))
    })?;
    let (decode, incoming) = per_item(&mut pairs, |(doc, c)| {
        Ok(decoded(&c.changes)?
            .into_iter()
            .filter(|change| !doc.has_change(&change.hash()))
            .collect::<Vec<_>>())
    })?;
    let mut work: Vec<(HouseholdDoc, &Case, Vec<IncomingChange>)> = pairs
        .into_iter()
        .zip(incoming)
        .map(|((d, c), i)| (d, c, i))
        .collect();
    let (apply, households) = per_item(&mut work, |(doc, c, fresh)| {
        doc.apply(std::mem::take(fresh))
            .map_err(|e| format!("apply {}: {e}", c.id))
    })?;
    let (read, _) = per_item(&mut work, |(doc, _, _)| {
        doc.read_all().map_err(|e| format!("read: {e}"))
    })?;
    let (history, _) = per_item(&mut work, |(doc, _, _)| Ok(doc.history()))?;
    let today = chrono::Utc::now().date_naive();
    let ctx_check = authority::Context {
        today,
        written_on: today,
    };
    let mut judged: Vec<_> = households.iter().zip(befores.drain(..)).collect();
    let (check, _) = per_item(&mut judged, |(after, before)| {
        authority::check(
            Writer::Device(Role::Surveyor),
            Some(before),
            &after.household,
            &ctx_check,
        )
        .map_err(|e| format!("write model: {e}"))
    })?;
    let mut projecting: Vec<_> = work.iter_mut().zip(households).collect();
    let (project, projected) = per_item(&mut projecting, |((doc, c, _), h)| {
        projection::project_read(&c.id, doc, h.clone()).map_err(|e| format!("project: {e}"))
    })?;
    let rows = rows_written(&projected_before, &projected);
    let (save, saved) = per_item(&mut work, |(doc, _, _)| Ok(doc.save()))?;
    let saved_bytes: usize = saved.iter().map(Vec::len).sum();

    table.section(format!(
        "Merge of one pushed household, in process (W3's server work without HTTP or database; {} households of the demo county)",
        thousands(n as u64)
    ));
    table.row(
        "stored document / after the merge, mean",
        format!(
            "{} / {}",
            bytes((stored_bytes / n.max(1)) as u64),
            bytes((saved_bytes / n.max(1)) as u64)
        ),
    );
    table.row("load the stored document", us(load));
    table.row("decode the pushed changes", us(decode));
    table.row(
        "apply them, and read the typed household to check it",
        us(apply),
    );
    table.row(
        "(of which: read the typed household and its conflicts, one walk)",
        us(read),
    );
    table.row(
        "write model: read the household before, judge what the push does",
        format!("{} + {}", us(read_before), us(check)),
    );
    table.row("projection (history + checks + rows)", us(project));
    table.row(
        "(of which: change history, for the newest time)",
        us(history),
    );
    table.row(
        "projection rows deleted + inserted: every row / changed tables / changed rows",
        format!(
            "{:.1} / {:.1} / {:.1} per household",
            rows.all as f64 / n.max(1) as f64,
            rows.changed_tables as f64 / n.max(1) as f64,
            rows.changed_rows as f64 / n.max(1) as f64
        ),
    );
    table.row("save the whole document", us(save));
    let total = load + read_before + decode + apply + check + project + save;
    table.row(
        "a merge as server::sync runs it (load, read, decode, apply, judge, project, save)",
        format!("{} ≈ {:.0} merges/s on one core", us(total), 1.0 / total),
    );
    // The fresh households are the ones just merged; building years of visits edit by edit is
    // the slow part, not what is measured, so a tenth of the households for those.
    incremental_save(table, &cases[..n.min(200)], 0)?;
    new_household_as_document(table, &cases)?;
    for earlier in EARLIER_VISITS {
        let n = (n / 10).max(1);
        crate::progress(format!(
            "incremental save: {n} households after {earlier} visits"
        ));
        incremental_save(table, &cases_after(n, ctx.seed, earlier)?, earlier)?;
    }
    Ok(())
}

/// Households stored after this many visits (besides none), for the incremental save's rows.
const EARLIER_VISITS: [u32; 2] = [10, 40];

/// The incremental save issue 21 proposed, measured and not kept: a merge of one more visit
/// appends its changes (automerge's `save_after` of the heads loaded) to the stored snapshot
/// instead of saving the whole document, and the next merge's load replays them. Both loads
/// read automerge's own uncompressed form, so the difference is the replay alone.
fn incremental_save(table: &mut Table, cases: &[Case], earlier: u32) -> Res<()> {
    let n = cases.len();
    let mut merged = cases
        .iter()
        .map(|c| {
            let mut doc = HouseholdDoc::load(&c.stored, server_actor())
                .map_err(|e| format!("load {}: {e}", c.id))?;
            let loaded = doc.heads();
            let snapshot = doc.automerge().save_nocompress();
            let pushed = decoded(&c.changes)?;
            doc.apply(pushed)
                .map_err(|e| format!("apply {}: {e}", c.id))?;
            Ok((doc, loaded, snapshot))
        })
        .collect::<Res<Vec<_>>>()?;
    let (save_whole, wholes) = per_item(&mut merged, |(doc, _, _)| Ok(doc.save()))?;
    let (save_tail, tails) = per_item(&mut merged, |(doc, loaded, _)| {
        Ok(doc.automerge().save_after(loaded))
    })?;
    let mut plain_wholes = merged
        .iter_mut()
        .map(|(doc, _, _)| doc.automerge().save_nocompress())
        .collect::<Vec<_>>();
    let mut with_tails = merged
        .iter()
        .zip(&tails)
        .map(|((_, _, snapshot), tail)| [snapshot.as_slice(), tail].concat())
        .collect::<Vec<_>>();
    let (load_whole, _) = per_item(&mut plain_wholes, |b| {
        HouseholdDoc::load(b, server_actor()).map_err(|e| format!("load: {e}"))
    })?;
    let (load_tail, _) = per_item(&mut with_tails, |b| {
        HouseholdDoc::load(b, server_actor()).map_err(|e| format!("load with a tail: {e}"))
    })?;
    let mean = |total: usize| bytes((total / n.max(1)) as u64);
    let stored: usize = cases.iter().map(|c| c.stored.len()).sum();
    let whole: usize = wholes.iter().map(Vec::len).sum();
    let tail: usize = tails.iter().map(Vec::len).sum();
    table.row(
        format!(
            "after {earlier} visits (stored {}): save whole {} writing {}, or append {} writing {}",
            mean(stored),
            us(save_whole),
            mean(whole),
            us(save_tail),
            mean(tail),
        ),
        format!(
            "next load {} whole, {} with the tail",
            us(load_whole),
            us(load_tail)
        ),
    );
    Ok(())
}

/// A household new to the server arrives as its changes, which the server decodes, checks and
/// applies one operation at a time into an empty document (automerge's `OpSet::splice`, more than
/// half of `apply_changes` in W3's profile). Were it sent as its saved document instead, the
/// server would load it (automerge builds the columns whole and, verifying the heads, rebuilds
/// the changes and their hashes, as the encoding check does now) and list its changes for the
/// log. Both are timed here on the same households, each followed by the read a merge makes: the
/// figure that says whether such a protocol change would pay. Not a path the server has, nor
/// a safe one: automerge 0.12 loads a document's operations without checking their order
/// (README, Benchmarks, item 22), so a device's document could read otherwise than its changes.
fn new_household_as_document(table: &mut Table, cases: &[Case]) -> Res<()> {
    // What a device would send: the household's changes, and its saved document.
    type Sent = (Vec<Vec<u8>>, Vec<u8>);
    let mut sent: Vec<Sent> = cases
        .iter()
        .map(|c| {
            let mut doc = HouseholdDoc::load(&c.stored, server_actor())
                .map_err(|e| format!("load {}: {e}", c.id))?;
            let changes = doc.changes_after(&[]);
            let saved = doc.automerge().save_nocompress();
            Ok((changes, saved))
        })
        .collect::<Res<Vec<_>>>()?;
    let (as_changes, _) = per_item(&mut sent, |(changes, _)| {
        let incoming = decoded(changes)?;
        let mut doc = HouseholdDoc::empty(server_actor());
        doc.apply(incoming).map_err(|e| format!("apply: {e}"))?;
        Ok(doc)
    })?;
    let (as_document, _) = per_item(&mut sent, |(_, saved)| {
        let mut doc =
            HouseholdDoc::load(saved, server_actor()).map_err(|e| format!("load: {e}"))?;
        doc.read_all().map_err(|e| format!("read: {e}"))?;
        Ok(doc.changes_after(&[]))
    })?;
    let mean = |f: fn(&Sent) -> usize| {
        bytes((sent.iter().map(f).sum::<usize>() / sent.len().max(1)) as u64)
    };
    table.row(
        format!(
            "a new household ({} as changes, {} as a saved document): decode, check, apply and read its changes / load its document, read it and list its changes",
            mean(|(c, _)| c.iter().map(Vec::len).sum()),
            mean(|(_, d)| d.len()),
        ),
        format!("{} / {}", us(as_changes), us(as_document)),
    );
    Ok(())
}

/// Pushed changes as the server decodes them, every one of which must decode.
fn decoded(changes: &[Vec<u8>]) -> Res<Vec<IncomingChange>> {
    changes
        .iter()
        .map(|b| IncomingChange::decode(b).map_err(|e| format!("decode: {e}")))
        .collect()
}

/// Projection rows a batch of merges deletes and inserts, counted three ways: every row of the
/// household (no digest kept), the rows of the tables whose digest changed (the write before
/// row hashes), and the rows that differ (what a write deletes and inserts now, by `row_hash`).
#[derive(Default)]
struct RowsWritten {
    all: usize,
    changed_tables: usize,
    changed_rows: usize,
}

fn rows_written(before: &[Projection], after: &[Projection]) -> RowsWritten {
    let mut out = RowsWritten::default();
    for (b, a) in before.iter().zip(after) {
        // Each row hashed once, for the digests and the row sets both.
        let (hb, ha) = (b.row_hashes(), a.row_hashes());
        let changed = Projection::changed_tables(
            &Projection::digest_of(&ha),
            Some(&Projection::digest_of(&hb)),
        );
        for ((old, new), changed) in hb.iter().zip(&ha).zip(changed) {
            // A rewrite deletes the old rows and inserts the new.
            let rewrite = old.len() + new.len();
            out.all += rewrite;
            if !changed {
                continue;
            }
            out.changed_tables += rewrite;
            let old: HashSet<&i64> = old.iter().collect();
            let new: HashSet<&i64> = new.iter().collect();
            // Inserted, and deleted.
            out.changed_rows += new.difference(&old).count() + old.difference(&new).count();
        }
    }
    out
}
