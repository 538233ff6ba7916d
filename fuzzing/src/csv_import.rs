//! The national roster CSV as the client imports it: bytes → text (UTF-8 or GBK) → header and
//! columns → each household checked, then built into a document as the import stores it.

use zoufang_client::import::{self, ImportError, household_id, valid_household_no};
use zoufang_shared::doc::{ActorId, ChangeAuthor, HouseholdDoc};

pub fn run(data: &[u8]) {
    let roster = match import::read(data, crate::today()) {
        Ok(roster) => roster,
        Err(
            e @ (ImportError::Decode(_)
            | ImportError::Csv { .. }
            | ImportError::MissingColumns(_)
            | ImportError::DuplicateColumn(_)),
        ) => {
            assert!(!e.to_string().is_empty());
            return;
        }
        Err(e @ (ImportError::Store(_) | ImportError::Interrupted { .. })) => {
            panic!("reading a file touched no store, yet: {e}")
        }
    };
    let author = ChangeAuthor::new("u-fuzz", "dev-fuzz", crate::now());
    for household in &roster.households {
        assert!(!household.lines.is_empty(), "a household has rows");
        assert!(
            household.lines.windows(2).all(|w| w[0] < w[1]),
            "lines ascend: {:?}",
            household.lines
        );
        match &household.outcome {
            Ok(candidate) => {
                assert!(valid_household_no(&household.household_no));
                assert!(!candidate.persons.is_empty(), "a household has people");
                let created = HouseholdDoc::create_with(
                    &household_id(&household.household_no),
                    ActorId::from(*b"zoufang-fuzzcsv0"),
                    &author,
                    |e| candidate.fill(e),
                );
                match created {
                    Ok((doc, ())) => {
                        let read = doc.read().expect("an imported household reads");
                        assert_eq!(read.members.len(), candidate.persons.len());
                    }
                    // The document's own rules are the last word; what they refuse, the import
                    // reports as a bad household — never any other error.
                    Err(e) => assert!(e.validation().is_some(), "unexpected error: {e}"),
                }
            }
            Err(reasons) => assert!(!reasons.is_empty(), "a refusal says why"),
        }
    }
}
