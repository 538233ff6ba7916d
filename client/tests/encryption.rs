//! The passphrase at the command line: a wrong one is a clean error that changes no file, the
//! right one after a restart finds the data, and changing it leaves only the new one working.

mod support;

use std::path::Path;

use support::{Device, PASSPHRASE, command, stderr, stdout};
use zoufang_client::roster_gen;

/// Every file of the data directory with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    all.sort();
    all
}

fn run_with(data: &Path, passphrase: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = command();
    cmd.arg("--data").arg(data).args(args);
    match passphrase {
        Some(p) => cmd.env("ZOUFANG_PASSPHRASE", p),
        None => cmd.env_remove("ZOUFANG_PASSPHRASE"),
    };
    cmd.output().expect("run zoufang")
}

fn device_with_households() -> (Device, String) {
    let device = Device::new();
    device.import(&roster_gen::generate(3, 7, support::today()));
    let export = device.export();
    (device, export)
}

#[test]
fn a_wrong_passphrase_is_a_clean_error_that_changes_nothing() {
    let (device, export) = device_with_households();
    let before = files(device.data());
    for args in [
        &["list"][..],
        &["export"],
        &["sync"],
        &["init", "--user-id", "x", "--user-name", "某"],
    ] {
        let o = run_with(device.data(), Some("not-the-passphrase"), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o).trim(), "错误:口令错误", "{args:?}");
        assert!(stdout(&o).is_empty());
    }
    assert_eq!(
        files(device.data()),
        before,
        "no file changed or moved aside"
    );
    // The right one, in a new process, finds everything.
    assert_eq!(device.export(), export);
}

#[test]
fn without_a_terminal_or_the_variable_the_passphrase_is_asked_for() {
    let (device, _) = device_with_households();
    let o = run_with(device.data(), None, &["list"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("需要口令") && err.contains("ZOUFANG_PASSPHRASE"),
        "{err}"
    );
    // Commands that do not touch the store need none.
    let o = run_with(device.data(), None, &["check-id", "11010119900307451X"]);
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_short_passphrase_is_refused_at_init() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let o = run_with(
        &data,
        Some("12345"),
        &["init", "--user-id", "u", "--user-name", "某"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("口令太短"), "{}", stderr(&o));
    assert!(!data.join("zoufang.db").exists());
    // Six digits are enough: a PIN.
    let o = run_with(
        &data,
        Some("024680"),
        &["init", "--user-id", "u", "--user-name", "某"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn changing_the_passphrase_leaves_only_the_new_one_working() {
    let (device, export) = device_with_households();
    let new = "另一个口令 2026";
    let o = command()
        .arg("--data")
        .arg(device.data())
        .arg("passphrase")
        .env("ZOUFANG_NEW_PASSPHRASE", new)
        .output()
        .expect("passphrase");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("口令已更改"));

    let o = run_with(device.data(), Some(PASSPHRASE), &["export", "--json"]);
    assert_eq!(stderr(&o).trim(), "错误:口令错误");
    let o = run_with(device.data(), Some(new), &["export", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), export);
    let left: Vec<String> = files(device.data()).into_iter().map(|(n, _)| n).collect();
    assert!(
        left.iter()
            .all(|n| !n.contains(".new") && !n.contains("rewrite")),
        "{left:?}"
    );
}
