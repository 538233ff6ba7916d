//! The `zoufang-server` command as an operator runs it. Being an integration test of this
//! package, it is also what makes `cargo nextest run --workspace` build the binary that the
//! end-to-end suite (tests/) starts.

use std::process::{Command, Output};

fn server(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoufang-server"))
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("ZOUFANG_DATABASE_URL")
        .env_remove("ZOUFANG_PASSWORD")
        .output()
        .expect("zoufang-server runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn migrate_applies_once_and_then_finds_nothing_to_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("server.db");

    let first = server(&db, &["migrate"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first = text(&first.stdout);
    assert!(first.contains("本次应用"), "{first}");
    assert!(!first.contains("本次应用 0 项"), "{first}");

    let again = server(&db, &["migrate"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("本次应用 0 项迁移"));
}

#[test]
fn an_unknown_role_is_refused_and_no_user_is_made() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("server.db");
    assert!(server(&db, &["migrate"]).status.success());

    let mut add = Command::new(env!("CARGO_BIN_EXE_zoufang-server"));
    add.arg("--database")
        .arg(&db)
        .args(["user", "add", "wang", "--name", "王", "--role", "mayor"])
        .args(["--area", "530921"])
        .env("ZOUFANG_PASSWORD", "a-long-enough-password");
    let refused = add.output().expect("zoufang-server runs");
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("不认识的值「mayor」"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let list = server(&db, &["user", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        !text(&list.stdout).contains("wang"),
        "{}",
        text(&list.stdout)
    );
}
