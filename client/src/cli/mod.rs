//! The `zoufang` command line. Exit codes: 0 done, 1 done but problems were found (bad import
//! rows, an assessment that fails, an invalid ID), 2 nothing done (usage, I/O or store errors).
//! Every failure is one `错误:…` line on stderr; a failed command writes nothing to the store.

mod args;
mod checks;
mod households;
mod output;
mod passphrase;
mod remote;
mod roster;
mod show;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use zoufang_client::store::{DB_FILE, Store, StoreError};

use args::Command;

/// Why a command stopped, with the exit code it stops with.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// Nothing was done.
    pub fn error(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }

    /// The command ran and what it checked is wrong.
    pub fn problem(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::error(e.to_string())
    }
}

impl From<zoufang_shared::doc::DocError> for Failure {
    fn from(e: zoufang_shared::doc::DocError) -> Failure {
        Failure::error(e.to_string())
    }
}

impl From<zoufang_shared::codes::UnknownCode> for Failure {
    fn from(e: zoufang_shared::codes::UnknownCode) -> Failure {
        Failure::error(e.to_string())
    }
}

pub type Outcome = Result<ExitCode, Failure>;

pub fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let ctx = Context {
        data: cli.data,
        json: cli.json,
    };
    match run(&ctx, cli.command) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("错误:{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(ctx: &Context, command: Command) -> Outcome {
    match command {
        Command::Init { user_id, user_name } => roster::init(ctx, &user_id, &user_name),
        Command::Import { file } => roster::import(ctx, &file),
        Command::List(a) => households::list(ctx, a),
        Command::Show { id } => show::show(ctx, &id),
        Command::Edit { id, field, value } => households::edit(ctx, &id, &field, &value),
        Command::Reset { id } => households::reset(ctx, &id),
        Command::Export { ids } => households::export(ctx, &ids),
        Command::Serve {
            bind,
            port,
            demo,
            lock_after,
        } => roster::serve(ctx, bind, port, demo, lock_after),
        Command::Enroll {
            server,
            username,
            device_name,
        } => remote::enroll(ctx, &server, &username, &device_name),
        Command::Sync => remote::sync(ctx),
        Command::Passphrase => passphrase::change(ctx),
        Command::Bundle(args::BundleCommand::Export { file }) => remote::bundle_export(ctx, &file),
        Command::Bundle(args::BundleCommand::Import { file }) => remote::bundle_import(ctx, &file),
        Command::CheckId { number, sex } => checks::check_id(ctx, &number, sex.as_deref()),
        Command::Assess { file, year, on } => checks::assess(ctx, &file, year, on),
    }
}

/// What every command may need: where the data is and how to print.
pub struct Context {
    data: Option<PathBuf>,
    pub json: bool,
}

impl Context {
    pub fn data_dir(&self) -> Result<PathBuf, Failure> {
        match &self.data {
            Some(d) => Ok(d.clone()),
            None => dirs::data_dir()
                .map(|d| d.join("zoufang"))
                .ok_or_else(|| Failure::error("无法确定本机的数据目录,请用 --data 指定")),
        }
    }

    /// The store, creating it when missing (for `init`).
    pub fn create_store(&self) -> Result<Store, Failure> {
        let passphrase = passphrase::for_store(self)?;
        Ok(Store::create(&self.data_dir()?, &passphrase)?)
    }

    /// The store, which must exist: a mistyped `--data` should say so, not leave an empty
    /// database behind.
    pub fn store(&self) -> Result<Store, Failure> {
        let dir = self.data_dir()?;
        if !dir.join(DB_FILE).is_file() {
            return Err(Failure::error(format!(
                "数据目录 {} 中还没有数据,请先运行 zoufang init",
                dir.display()
            )));
        }
        let passphrase = passphrase::for_store(self)?;
        Ok(Store::unlock(&dir, &passphrase)?)
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "文件不存在".to_owned(),
            std::io::ErrorKind::PermissionDenied => "没有读取权限".to_owned(),
            std::io::ErrorKind::IsADirectory => "这是一个目录".to_owned(),
            _ => e.to_string(),
        };
        Failure::error(format!("无法读取 {}:{why}", path.display()))
    })
}

fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}
