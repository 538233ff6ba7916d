//! The demo county `zoufang-server demo` seeds: what the review pages show of it, and that
//! seeding again changes nothing.

mod common;

use chrono::TimeDelta;
use common::{open, with_sqlite};
use zoufang_server::demo::{COUNTY, seed_demo_households};
use zoufang_server::projection::today;
use zoufang_server::report::cross::MAX_HOUSEHOLDS_PER_HELPER;
use zoufang_server::report::{Bucket, ReportQuery};
use zoufang_server::storage::{Database, Projections};

#[tokio::test]
async fn the_demo_county_shows_every_column_and_every_finding() {
    with_sqlite(|url| async move {
        let db = open(&url).await;
        assert_eq!(seed_demo_households(&db, 300).await.expect("seed"), 300);
        assert_eq!(db.household_count().await.expect("count"), 300);
        assert_eq!(db.projected_count().await.expect("projected"), 300);

        let today = today();
        let q = ReportQuery::over_period(COUNTY, today - TimeDelta::days(365), today, today);
        let r = zoufang_server::review::counted_report(&db, &q)
            .await
            .expect("report");

        assert_eq!(r.total.all.households, 300);
        // Both townships of the demo tree have households.
        let townships: Vec<(&str, i64)> = r
            .children
            .iter()
            .map(|s| (s.area_name.as_str(), s.all.households))
            .collect();
        assert_eq!(townships.len(), 2, "{townships:?}");
        assert!(townships.iter().all(|(_, n)| *n > 0), "{townships:?}");
        let statuses_present = r
            .total
            .by_status
            .iter()
            .filter(|l| l.count.households > 0)
            .count();
        assert!(statuses_present >= 6, "{:?}", r.total.by_status);
        // Every procedure column, 公示中 and 公示结束, 退回 and 不通过 included.
        for (i, bucket) in Bucket::ALL.iter().enumerate() {
            let households: i64 = r
                .total
                .by_case
                .iter()
                .map(|c| c.buckets[i].households)
                .sum();
            assert!(households >= 2, "{}: {households}", bucket.label());
        }

        // The 核查 page's findings.
        let duplicates = db.duplicate_ids(COUNTY).await.expect("duplicate ids");
        let mut ids: Vec<&str> = duplicates.iter().map(|d| d.id_number.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2, "{duplicates:?}");
        let busy = db
            .busy_helpers(COUNTY, MAX_HOUSEHOLDS_PER_HELPER)
            .await
            .expect("busy helpers");
        assert_eq!(busy.len(), 1, "{busy:?}");
        assert!(busy[0].households > MAX_HOUSEHOLDS_PER_HELPER);
        let conflicts = db.conflict_queue(COUNTY, 100).await.expect("conflicts");
        assert!(conflicts.len() >= 3, "{conflicts:?}");

        // Seeding again is a no-op.
        let before = db.dump_projection().await.expect("dump");
        assert_eq!(seed_demo_households(&db, 300).await.expect("seed again"), 0);
        assert_eq!(db.household_count().await.expect("count"), 300);
        assert_eq!(db.dump_projection().await.expect("dump"), before);
    })
    .await;
}
