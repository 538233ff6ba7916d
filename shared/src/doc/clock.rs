//! Plausible change times.
//!
//! Every change carries the wall-clock time of its edit, in milliseconds since the Unix epoch
//! (automerge's change `time` field; [`super::ChangeAuthor::at`]). History, the review pages'
//! "changed at" and the projection's as-of day are read from it, so a time stamped in seconds
//! (JavaScript's automerge does that by default) would show a change as made on 1970-01-22,
//! and a phone whose clock ran years ahead would date its edits in the future. A server takes a
//! pushed change only when its time lies between [`EARLIEST_CHANGE_MS`] (2014-01-01, before any
//! device could have written one) and one day ([`MAX_AHEAD_MS`]) past the server's own clock;
//! see `docs/protocol.md`.

use chrono::{DateTime, Utc};

/// 2014-01-01T00:00:00Z in milliseconds since the Unix epoch: the earliest plausible time.
pub const EARLIEST_CHANGE_MS: i64 = 1_388_534_400_000;
/// How far past the server's clock a change may be stamped (clocks drift, time zones are
/// mis-set): one day.
pub const MAX_AHEAD_MS: i64 = 24 * 60 * 60 * 1000;

/// A change time outside the plausible range. `Display` is the message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImplausibleTime {
    #[error(
        "变更时间 {ms}({shown})早于 2014-01-01,不合理:时间须为自 1970-01-01 起的毫秒数(可能误用了秒),或设备时钟有误;已拒绝",
        ms = .0, shown = shown(.0)
    )]
    TooEarly(i64),
    #[error(
        "变更时间 {ms}({shown})比服务器时间晚一天以上,设备时钟有误;请校准设备时间后联系管理员;已拒绝",
        ms = .0, shown = shown(.0)
    )]
    TooLate(i64),
}

/// A time as people read it, in UTC; a number no date can hold is said so.
fn shown(ms: &i64) -> String {
    DateTime::from_timestamp_millis(*ms).map_or_else(
        || "不是有效时间".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Accepts a change time `ms` (milliseconds since the Unix epoch) only from 2014-01-01T00:00:00Z
/// up to one day past `server_now`, both ends included.
pub fn check_change_time(ms: i64, server_now: DateTime<Utc>) -> Result<(), ImplausibleTime> {
    if ms < EARLIEST_CHANGE_MS {
        return Err(ImplausibleTime::TooEarly(ms));
    }
    if ms > server_now.timestamp_millis().saturating_add(MAX_AHEAD_MS) {
        return Err(ImplausibleTime::TooLate(ms));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::IncomingChange;
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{AutoCommit, ROOT};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn plausible_times_lie_between_2014_and_a_day_past_the_server_clock() {
        let now = now();
        let ms = now.timestamp_millis();
        for ok in [
            EARLIEST_CHANGE_MS,
            EARLIEST_CHANGE_MS + 1,
            ms - 3_600_000,
            ms,
            ms + MAX_AHEAD_MS - 1,
            ms + MAX_AHEAD_MS,
        ] {
            assert_eq!(check_change_time(ok, now), Ok(()), "{ok}");
        }
        for early in [
            EARLIEST_CHANGE_MS - 1,
            0,
            -1,
            i64::MIN,
            // The same moment in seconds, as JavaScript's automerge stamps it: 1970-01-21.
            ms / 1000,
        ] {
            assert_eq!(
                check_change_time(early, now),
                Err(ImplausibleTime::TooEarly(early)),
                "{early}"
            );
        }
        // In microseconds the same moment lies far in the future.
        for late in [ms + MAX_AHEAD_MS + 1, ms * 1000, i64::MAX] {
            assert_eq!(
                check_change_time(late, now),
                Err(ImplausibleTime::TooLate(late)),
                "{late}"
            );
        }
    }

    #[test]
    fn the_message_shows_the_time_as_people_read_it() {
        let seconds = now().timestamp();
        let text = check_change_time(seconds, now())
            .expect_err("seconds are refused")
            .to_string();
        assert!(text.contains("1970-01-21"), "{text}");
        assert!(text.contains("毫秒"), "{text}");
        let text = check_change_time(i64::MAX, now())
            .expect_err("refused")
            .to_string();
        assert!(text.contains("不是有效时间"), "{text}");
    }

    /// A change decoded from the wire carries the time it was committed with, whatever it is.
    #[test]
    fn an_incoming_change_carries_its_commit_time() {
        let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(vec![7u8; 40]));
        let times = [
            0,
            1,
            -1,
            63,
            64,
            -64,
            -65,
            1_764_000_000,
            now().timestamp_millis(),
            // As far as automerge 0.12 goes: it panics delta-encoding times ±2^63 apart.
            1 << 53,
            -(1 << 53),
        ];
        for (i, t) in times.iter().enumerate() {
            doc.put(ROOT, "n", i as i64).expect("put");
            doc.commit_with(
                CommitOptions::default()
                    .with_message(r#"{"u":"u-1","d":"dev-1"}"#)
                    .with_time(*t),
            );
        }
        let changes = doc.get_changes(&[]);
        assert_eq!(changes.len(), times.len());
        for (change, t) in changes.iter().zip(times) {
            let incoming = IncomingChange::decode(change.raw_bytes()).expect("decodes");
            assert_eq!(incoming.time(), t);
        }
    }
}
