//! The bodies of the fuzz targets: each takes arbitrary bytes, drives one place where Zoufang
//! reads input it does not control, and asserts what must hold for any input (no panic, typed
//! errors, round trips). libFuzzer runs them from `fuzz/` (see `scripts/fuzz`); the tests of
//! this crate run them over every committed corpus and regression file, so a finding once fixed
//! stays fixed in `cargo nextest run --workspace`.

pub mod attachment_upload;
pub mod csv_import;
pub mod doc_load;
pub mod inflate;
pub mod seeds;
pub mod sync_decode;

use chrono::{DateTime, NaiveDate, Utc};

/// The day every target works on, fixed so that a run depends on its input only.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("a valid date")
}

/// The time of every change the targets write themselves: noon of [`today`].
pub fn now() -> DateTime<Utc> {
    today()
        .and_hms_opt(12, 0, 0)
        .expect("a valid time")
        .and_utc()
}

/// A fuzz target: its name (the directory of its corpus) and its body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "sync_decode",
        run: sync_decode::run,
    },
    Target {
        name: "doc_load",
        run: doc_load::run,
    },
    Target {
        name: "csv_import",
        run: csv_import::run,
    },
    Target {
        name: "attachment_upload",
        run: attachment_upload::run,
    },
    Target {
        name: "inflate",
        run: inflate::run,
    },
];
