//! Every committed corpus input and every fixed crasher, run through its target's body: none may
//! panic, and each body asserts its target's invariants. A target without inputs fails (the
//! corpus is part of the test, not optional).

use std::path::{Path, PathBuf};

use zoufang_client::import;
use zoufang_fuzzing::{TARGETS, Target};
use zoufang_shared::doc::{ActorId, HouseholdDoc, IncomingChange};
use zoufang_shared::wire::{self, PushOutcome, SyncRequest};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(name: &str) {
    let target: &Target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("a known target");
    let files = inputs(name);
    assert!(!files.is_empty(), "no corpus for {name}");
    for path in files {
        let bytes = std::fs::read(&path).expect("a readable input");
        // Names the input in the failing test's output should it panic.
        eprintln!("{name}: {}", path.display());
        (target.run)(&bytes);
    }
}

#[test]
fn sync_decode_corpus() {
    replay("sync_decode");
}

#[test]
fn doc_load_corpus() {
    replay("doc_load");
}

#[test]
fn csv_import_corpus() {
    replay("csv_import");
}

#[test]
fn attachment_upload_corpus() {
    replay("attachment_upload");
}

#[test]
fn inflate_corpus() {
    replay("inflate");
}

#[test]
fn seeds_pass_the_first_stage_of_their_target() {
    // A seed that the first parser already refuses would start the fuzzer nowhere.
    let seeds = zoufang_fuzzing::seeds::seeds().expect("seeds build");
    for target in TARGETS {
        assert!(
            seeds.iter().any(|s| s.target == target.name),
            "{}",
            target.name
        );
    }
    for seed in seeds {
        let ok = match seed.target {
            "sync_decode" => wire::decode::<SyncRequest>(&seed.bytes).is_ok(),
            "doc_load" => {
                HouseholdDoc::load(&seed.bytes, ActorId::random()).is_ok()
                    || IncomingChange::decode(&seed.bytes).is_ok()
            }
            "csv_import" => import::read(&seed.bytes, zoufang_fuzzing::today()).is_ok(),
            _ => true,
        };
        assert!(ok, "seed {} of {}", seed.name, seed.target);
        // The seeds of a valid upload and a device's first push go all the way through.
        if seed.target == "attachment_upload" && seed.name.ends_with("-whole") {
            let state = zoufang_fuzzing::attachment_upload::upload(&seed.bytes);
            assert!(state.is_some_and(|s| s.complete), "{}", seed.name);
        }
        if seed.name == "create" {
            let req: SyncRequest = wire::decode(&seed.bytes).expect("decodes");
            let device = zoufang_fuzzing::sync_decode::device_for(&req);
            let push = req.pushes.first().expect("a push");
            let (outcome, write) = zoufang_server::sync::check_push(&device, push, None);
            assert!(
                matches!(outcome, PushOutcome::Accepted { .. }),
                "{outcome:?}"
            );
            assert!(write.is_some());
        }
        let target = TARGETS
            .iter()
            .find(|t| t.name == seed.target)
            .expect("a known target");
        (target.run)(&seed.bytes);
    }
}

#[test]
fn a_push_nesting_maps_thousands_deep_is_rejected_not_a_stack_overflow() {
    let (_, change) = zoufang_fuzzing::seeds::deep_nesting(9_000); // within max_ops_per_change, so the nesting check is what refuses it
    let push = wire::Push {
        household: "hh-deep".into(),
        changes: vec![change],
    };
    let req = SyncRequest {
        protocol: wire::PROTOCOL_VERSION,
        pushes: vec![push],
        max_pull_bytes: 0,
        ..SyncRequest::default()
    };
    let device = zoufang_fuzzing::sync_decode::device_for(&req);
    let (outcome, write) = zoufang_server::sync::check_push(&device, &req.pushes[0], None);
    assert!(write.is_none());
    match outcome {
        PushOutcome::Rejected { code, message } => {
            assert_eq!(code, "invalid_document");
            assert!(message.contains("嵌套"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
