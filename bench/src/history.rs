//! The review page's field history of one household that was sent many tiny changes: the cost
//! that grew with the square of the number of changes (issue 16) while a device could push
//! thousands of them to one household.
//!
//! Three shapes of history: one device writing one field over and over (each change builds on
//! the last: what a flood from one device looks like); two devices writing concurrently and
//! merging after every pair (every other change was written beside another, not after it); ten
//! devices each writing a long run of their own, merged only at the end (every run but the first
//! is replayed beside the others). The household is the demo's typical one; each change sets the
//! village name. The figure is `review::history::timeline`, the work the household page does
//! with the history, on the document as the server loads it.

use std::time::Instant;

use serde_json::json;
use zoufang_server::review::history;
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;

use crate::table::{Table, ms, secs, thousands};
use crate::{Ctx, Res};

fn author(device: &str) -> ChangeAuthor {
    ChangeAuthor::new("bench", device, chrono::Utc::now())
}

fn set_village(doc: &mut HouseholdDoc, who: &ChangeAuthor, n: usize) -> Res<()> {
    doc.edit(who, |e| {
        e.set_field("info.village", json!(format!("村{n}")))
    })
    .map_err(|e| format!("edit {n}: {e}"))?;
    Ok(())
}

fn created() -> Res<HouseholdDoc> {
    let (doc, ()) = HouseholdDoc::create_with(
        &HouseholdId::from("hh-history"),
        ActorId::from([1u8; 16]),
        &author("device-1"),
        zoufang_shared::demo::fill_typical,
    )
    .map_err(|e| format!("household: {e}"))?;
    Ok(doc)
}

/// The saved household after each of `sizes` changes (ascending) by one device.
fn one_device(sizes: &[usize]) -> Res<Vec<Vec<u8>>> {
    let mut doc = created()?;
    let who = author("device-1");
    let mut out = Vec::new();
    for n in 1..=sizes.last().copied().unwrap_or(0) {
        set_village(&mut doc, &who, n)?;
        if sizes.contains(&n) {
            out.push(doc.save());
        }
    }
    Ok(out)
}

/// The same, by two devices that each write once and then merge with the other.
fn two_devices(sizes: &[usize]) -> Res<Vec<Vec<u8>>> {
    let mut a = created()?;
    let mut b = a.fork(ActorId::from([2u8; 16]));
    let (who_a, who_b) = (author("device-1"), author("device-2"));
    let mut out = Vec::new();
    let mut n = 0;
    while n < sizes.last().copied().unwrap_or(0) {
        set_village(&mut a, &who_a, n + 1)?;
        set_village(&mut b, &who_b, n + 2)?;
        n += 2;
        a.merge(&mut b).map_err(|e| format!("merge: {e}"))?;
        b.merge(&mut a).map_err(|e| format!("merge: {e}"))?;
        if sizes.contains(&n) {
            out.push(a.save());
        }
    }
    Ok(out)
}

/// The same, by ten devices writing a tenth each, merged at the end.
fn ten_devices(sizes: &[usize]) -> Res<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for &n in sizes {
        let mut merged = created()?;
        let mut devices: Vec<(HouseholdDoc, ChangeAuthor)> = (0..10u8)
            .map(|d| {
                let doc = merged.fork(ActorId::from([10 + d; 16]));
                (doc, author(&format!("device-{d}")))
            })
            .collect();
        for (d, (doc, who)) in devices.iter_mut().enumerate() {
            for i in 0..n / 10 {
                set_village(doc, who, d * n + i)?;
            }
        }
        for (doc, _) in &mut devices {
            merged.merge(doc).map_err(|e| format!("merge: {e}"))?;
        }
        out.push(merged.save());
    }
    Ok(out)
}

/// Time of the household page's history of `saved`, and its number of lines.
fn timeline(saved: &[u8]) -> Res<(f64, usize)> {
    let mut doc = HouseholdDoc::load(saved, ActorId::random()).map_err(|e| format!("load: {e}"))?;
    let t = Instant::now();
    let lines = history::timeline(&mut doc, true).map_err(|e| format!("history: {e}"))?;
    Ok((t.elapsed().as_secs_f64(), lines.len()))
}

pub fn run(ctx: &Ctx, table: &mut Table) -> Res<()> {
    let sizes: &[usize] = if ctx.quick {
        &[300, 1_000, 3_000]
    } else {
        &[1_000, 3_000, 10_000]
    };
    table.section(
        "Field history of one household sent many tiny changes (the household page's timeline)",
    );
    for (shape, saved) in [
        ("one device", one_device(sizes)?),
        ("two devices, merging after each pair", two_devices(sizes)?),
        ("ten devices, merged at the end", ten_devices(sizes)?),
    ] {
        for (n, saved) in sizes.iter().zip(&saved) {
            crate::progress(format!("history: {n} changes, {shape}"));
            let (took, lines) = timeline(saved)?;
            table.row(
                format!(
                    "{} changes, {shape} ({} lines)",
                    thousands(*n as u64),
                    thousands(lines as u64)
                ),
                if took >= 1.0 { secs(took) } else { ms(took) },
            );
        }
    }
    Ok(())
}
