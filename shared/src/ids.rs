//! Stable identifiers. Members, visits, cases, step records, helpers and objections are keyed by
//! random UUIDs (not list positions), so two devices adding one concurrently never collide.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                $name(uuid::Uuid::new_v4().simple().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }
    };
}

id_type!(
    /// One household document.
    HouseholdId
);
id_type!(MemberId);
id_type!(HelperId);
id_type!(VisitId);
id_type!(CaseId);
id_type!(StepId);

impl StepId {
    /// A fresh id that sorts after every id made earlier (UUIDv7: milliseconds first), so two
    /// records of one step on one day — returned in the morning, passed after lunch — keep the
    /// order they were written in (see `Case::records`).
    pub fn time_ordered() -> Self {
        StepId(uuid::Uuid::now_v7().simple().to_string())
    }

    /// The day the record was written, from a time-ordered id (UUIDv7: milliseconds in its
    /// first 48 bits); `None` for another kind of id.
    pub fn written_on(&self) -> Option<chrono::NaiveDate> {
        let id = uuid::Uuid::try_parse(&self.0).ok()?;
        if id.get_version_num() != 7 {
            return None;
        }
        let (secs, nanos) = id.get_timestamp()?.to_unix();
        chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos).map(|t| t.date_naive())
    }
}
id_type!(ObjectionId);
