//! Running the real `zoufang` binary against a throwaway data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::NaiveDate;
use zoufang_client::roster_gen::{self, RosterHousehold};

pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// The passphrase of the test devices' stores.
pub const PASSPHRASE: &str = "test-passphrase";

/// `zoufang` with `args` (the data directory is whatever the args say), the store's passphrase
/// in the environment as scripts give it.
pub fn zoufang(args: &[&str]) -> Output {
    command().args(args).output().expect("run zoufang")
}

/// The `zoufang` command [`zoufang`] runs, to add to.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoufang"));
    cmd.env_remove("ZOUFANG_DATA")
        .env_remove("ZOUFANG_NEW_PASSPHRASE")
        .env("ZOUFANG_PASSPHRASE", PASSPHRASE);
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A device initialised in a temporary data directory.
pub struct Device {
    dir: tempfile::TempDir,
}

impl Device {
    pub fn new() -> Device {
        let device = Device {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let o = device.run(&["init", "--user-id", "u-test", "--user-name", "测试员"]);
        assert!(o.status.success(), "init: {}", stderr(&o));
        device
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write file");
        path
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let data = self.dir.path().to_str().expect("utf-8 temp path");
        let mut all = vec!["--data", data];
        all.extend_from_slice(args);
        zoufang(&all)
    }

    /// Runs and parses stdout as JSON, requiring exit code `code`.
    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = self.run(&all);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("json output")
    }

    pub fn import(&self, households: &[RosterHousehold]) -> serde_json::Value {
        let path = self.file("roster.csv", roster_gen::to_csv(households).as_bytes());
        self.json(&["import", path.to_str().expect("utf-8 path")], 0)
    }

    pub fn export(&self) -> String {
        let o = self.run(&["export", "--json"]);
        assert!(o.status.success(), "export: {}", stderr(&o));
        stdout(&o)
    }
}
