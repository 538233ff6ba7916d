//! Prints the saved size of a typical household document (4 members, 3 visits) and after 50
//! edits, plus the size of one edit's change on the wire. Run:
//! `cargo run --release -p zoufang-shared --example doc_size`

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use zoufang_shared::codes::*;
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::model::*;
use zoufang_shared::money::Fen;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .ok_or("time")?;
    let author =
        |minutes: i64| ChangeAuthor::new("u-zhang", "dev-01", t0 + Duration::minutes(minutes));
    let mut doc =
        HouseholdDoc::create(&HouseholdId::random(), ActorId::from([1u8; 16]), &author(0))?;
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).ok_or("date");
    doc.edit(&author(1), zoufang_shared::demo::fill_typical)?;
    for (i, d) in [3, 10, 17].into_iter().enumerate() {
        doc.edit(&author(2 + i as i64), |e| {
            e.add_visit(&Visit {
                date: day(d).map_err(|_| zoufang_shared::doc::DocError::Layout("date".into()))?,
                visitor: "张调查".into(),
                visitor_user: Some("u-zhang".into()),
                mode: VisitMode::InPerson,
                household_present: Some(true),
                notes: "核实家庭收入和住房情况,户主在家,务工收入稳定。".into(),
                policies_known: "医保、低保、产业奖补".into(),
                satisfaction: Some(Satisfaction::Satisfied),
                attachments: Default::default(),
            })
        })?;
    }
    let typical = doc.save().len();
    let mut change_bytes = Vec::new();
    for n in 0..50i64 {
        doc.edit(&author(10 + n), |e| {
            let h = e.household()?;
            match n % 5 {
                0 => {
                    let mut income = h.incomes.get(&2026).cloned().unwrap_or_default();
                    income.wage = Fen::from_yuan(18_000 + n * 100);
                    e.set_income(2026, &income)
                }
                1 => {
                    let mut info = h.info;
                    info.phone = Some(format!("139{n:08}"));
                    e.set_info(&info)
                }
                2 => {
                    let (id, m) = h
                        .members
                        .iter()
                        .nth((n as usize) % 4)
                        .ok_or(zoufang_shared::doc::DocError::Layout("member".into()))?;
                    let mut m = m.clone();
                    m.work_months = Some((n % 12) as u8);
                    e.update_member(id, &m)
                }
                3 => {
                    let mut water = h.water;
                    water.litres_per_person_day = Some(40 + n as u32);
                    e.set_water(&water)
                }
                _ => {
                    let mut living = h.living;
                    living.house_area_m2 = Some(90 + n as u32);
                    e.set_living(&living)
                }
            }
        })?;
        if let Some(change) = doc.automerge().get_last_local_change() {
            change_bytes.push(change.raw_bytes().len());
        }
    }
    let after = doc.save().len();
    let mean = change_bytes.iter().sum::<usize>() as f64 / change_bytes.len().max(1) as f64;
    println!("typical household (4 members, 3 visits), saved: {typical} bytes");
    println!("after 50 more edits, saved:                      {after} bytes");
    println!(
        "one field edit as a change: mean {mean:.0} bytes (min {}, max {})",
        change_bytes.iter().min().unwrap_or(&0),
        change_bytes.iter().max().unwrap_or(&0)
    );
    println!("changes in history: {}", doc.history().len());
    Ok(())
}
