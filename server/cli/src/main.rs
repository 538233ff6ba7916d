//! `zoufang-server`: the central server and its admin commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use zoufang_server::app::{AppState, router};
use zoufang_server::config::{Config, Overrides};
use zoufang_server::storage::{Accounts, Database, DbError, Projections};
use zoufang_storage_any::AnyDb;

// jemalloc rather than glibc's malloc (issue 21): a sync's merges allocate and free many small
// objects on several threads at once, and glibc's arenas spent a tenth of the server's CPU in
// W3 on it (consolidating and unlinking free chunks). `bench --quick --only w3`, SQLite, three
// runs each, alternating: server CPU 0.82–0.83 → 0.76–0.78 ms per accepted household, peak
// RSS in the rounds 103–105 → 112–121 MB. mimalloc, tried before, cut as much and doubled it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod accounts;
mod backup;
mod error;
mod restore;
mod standards;

use accounts::{area, seed_demo, user};
use error::{CliError, refused, report};
use restore::restore;
use standards::StandardsCommand;

#[derive(Parser)]
#[command(
    name = "zoufang-server",
    version,
    about = "走访 central server: merge, review, rosters"
)]
struct Cli {
    /// TOML settings file (keys: database, read_database, listen, token_days, max_sync_bytes,
    /// publicity_min_days, no_visit_days, session_hours, spot_check_salt, public_url, and a
    /// [limits] table: see the README's limits table)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database: an SQLite file path (default zoufang-server.db) or postgres://… [env: ZOUFANG_DATABASE_URL]
    #[arg(long, global = true)]
    database: Option<String>,
    /// How the log on stderr is written: `text` for people, `json` (one object per line, with
    /// the request's route in its span) for log collectors
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until Ctrl-C / SIGTERM
    Serve {
        /// Address to listen on (default 127.0.0.1:8090) [env: ZOUFANG_LISTEN]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Bring a PostgreSQL schema up to date first, as `migrate` does (the embedded SQLite
        /// file always is); without it a replica refuses a schema older than itself
        #[arg(long)]
        migrate: bool,
        /// Count reports on this read-only copy of the database (a PostgreSQL streaming
        /// standby) rather than on the primary [env: ZOUFANG_READ_DATABASE_URL]
        #[arg(long, value_name = "URL")]
        read_database: Option<String>,
    },
    /// Serve with a demo county (凤庆县: 诗礼乡, 小湾镇) and demo accounts, created if missing
    Demo {
        /// Address to listen on (default 127.0.0.1:8090) [env: ZOUFANG_LISTEN]
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage user accounts
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the administrative area tree
    Area {
        #[command(subcommand)]
        command: AreaCommand,
    },
    /// Manage enrolled devices
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Correct a household on the server; devices receive it on their next sync
    Household {
        #[command(subcommand)]
        command: HouseholdCommand,
    },
    /// Sync by file for devices with no network
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Bring the database schema up to date, and rebuild the supervisors' tables a migration
    /// emptied; run once per upgrade, before the new version's replicas start
    Migrate,
    /// Rebuild the supervisors' tables (rosters, reports, flags) from the stored documents
    Reindex {
        /// Pages of households rebuilt at once (default: the machine's cores)
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Write a consistent backup to FILE while the server runs (SQLite: VACUUM INTO;
    /// PostgreSQL: pg_dump --format=custom, which must be installed)
    Backup { file: PathBuf },
    /// Restore from a backup with the server stopped; devices then resend what the backup
    /// lacks. Also: record a restore done by other means, close the recovery window, show it
    Restore {
        /// The backup file (from `backup`, or a pg_dump --format=custom file)
        #[arg(
            required_unless_present_any = ["mark", "close", "status"],
            conflicts_with_all = ["mark", "close", "status"]
        )]
        file: Option<PathBuf>,
        /// Days devices may resend other devices' changes the restore lost (default 14)
        #[arg(long, value_name = "DAYS", conflicts_with_all = ["close", "status"])]
        window_days: Option<i64>,
        /// The database was restored by other means (pg_restore, a disk snapshot): record it
        #[arg(long, conflicts_with_all = ["close", "status"])]
        mark: bool,
        /// Close the recovery window (once the devices have resynced)
        #[arg(long, conflicts_with = "status")]
        close: bool,
        /// Show the last restore, which devices have resynced and the changes they resent
        #[arg(long)]
        status: bool,
    },
    /// List the income standards table in use (imported, else built-in), check a file, or
    /// import the county's table
    Standards {
        /// A standards JSON file to check and list instead
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<StandardsCommand>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from ZOUFANG_PASSWORD or the first line of stdin
    Add {
        username: String,
        /// Display name (e.g. 张调查)
        #[arg(long)]
        name: String,
        /// surveyor, team_leader, township_reviewer, county_supervisor or admin
        #[arg(long)]
        role: String,
        /// Area code the user works in (repeatable)
        #[arg(long = "area", required = true)]
        areas: Vec<String>,
    },
    /// List users
    List,
    /// Disable a user: their devices stop syncing at once
    Disable { username: String },
    /// Replace a user's areas (their devices then receive what is newly in scope)
    Areas {
        username: String,
        #[arg(long = "area", required = true)]
        areas: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Revoke a device (a lost phone): its token stops working at once
    Revoke { device_id: String },
}

#[derive(Subcommand)]
enum HouseholdCommand {
    /// Set one field by its path (e.g. living.house_grade B级), as a change by USER
    Set {
        id: String,
        field: String,
        value: String,
        /// The account the change is recorded under
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Apply a device's bundle (same checks as a sync) and write the reply it takes back
    Import {
        file: PathBuf,
        /// Where to write the reply (acknowledgements and the device's pull)
        #[arg(long)]
        reply: PathBuf,
    },
}

#[derive(Subcommand)]
enum AreaCommand {
    /// Import areas from a CSV with the header code,name,parent,level
    Import { file: PathBuf },
    /// List areas
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_log(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误:{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        let outcome = run(cli).await;
        close_databases().await;
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(2)
        }
    }
}

fn init_log(format: LogFormat) {
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZOUFANG_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => log.init(),
        LogFormat::Json => log.json().init(),
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let (listen, read_database) = match &cli.command {
        Command::Serve {
            listen,
            read_database,
            ..
        } => (*listen, read_database.clone()),
        Command::Demo { listen } => (*listen, None),
        _ => (None, None),
    };
    let overrides = Overrides {
        database: cli.database.clone(),
        read_database,
        listen,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Standards {
            file,
            command: Some(command),
        } => {
            if file.is_some() {
                return Err(refused("--file 用于检查;导入请写 standards import FILE"));
            }
            standards::run(command, connect(&config).await?).await
        }
        Command::Standards {
            file,
            command: None,
        } => {
            let db = match &file {
                Some(_) => None,
                None => Some(connect(&config).await?),
            };
            standards::list(file, db).await
        }
        Command::Serve { migrate, .. } => serve(config, migrate).await,
        Command::Demo { .. } => {
            let db = connect(&config).await?;
            seed_demo(&db).await?;
            serve(config, false).await
        }
        Command::Migrate => {
            let db = open(&config).await?;
            let pending = db.pending_migrations().await?;
            migrate(&db).await?;
            println!("数据库结构已是最新(本次应用 {pending} 项迁移)");
            Ok(())
        }
        Command::User { command } => {
            let db = connect(&config).await?;
            user(&db, command).await
        }
        Command::Bundle {
            command: BundleCommand::Import { file, reply },
        } => {
            let db = connect(&config).await?;
            let bytes = std::fs::read(&file).map_err(|source| CliError::Read {
                path: file.clone(),
                source,
            })?;
            let (out, summary) =
                zoufang_server::bundles::import(&db, &bytes, &config.limits).await?;
            let tmp = reply.with_extension("part");
            std::fs::write(&tmp, out)
                .and_then(|()| std::fs::rename(&tmp, &reply))
                .map_err(|source| CliError::Write {
                    path: reply.clone(),
                    source,
                })?;
            println!("{summary}");
            Ok(())
        }
        Command::Household {
            command:
                HouseholdCommand::Set {
                    id,
                    field,
                    value,
                    user,
                },
        } => {
            let db = connect(&config).await?;
            if db.user_by_name(&user).await?.is_none() {
                return Err(refused(format!("没有用户 {user}")));
            }
            let value: serde_json::Value =
                serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let author = zoufang_shared::doc::ChangeAuthor::new(
                user,
                zoufang_server::review::SERVER_DEVICE,
                chrono::Utc::now(),
            );
            zoufang_server::server_edit::edit_household(&db, &id, &author, |e| {
                e.set_field(&field, value.clone())
            })
            .await?;
            println!("已修改 {id} 的 {field}");
            Ok(())
        }
        Command::Device {
            command: DeviceCommand::Revoke { device_id },
        } => {
            let db = connect(&config).await?;
            match db.revoke_device(&device_id).await {
                Ok(()) => {
                    println!("已停用设备 {device_id}");
                    Ok(())
                }
                Err(DbError::NotFound) => Err(refused(format!("没有设备 {device_id}"))),
                Err(e) => Err(e.into()),
            }
        }
        Command::Area { command } => {
            let db = connect(&config).await?;
            area(&db, command).await
        }
        Command::Backup { file } => {
            let summary = crate::backup::backup(&config.database, &file).await?;
            println!(
                "已备份到 {}:{} 户,变更日志至 {} 号,{} 字节",
                file.display(),
                summary.households,
                summary.seq,
                summary.bytes
            );
            Ok(())
        }
        Command::Restore {
            file,
            window_days,
            mark,
            close,
            status: _,
        } => restore(&config, file, window_days, mark, close).await,
        Command::Reindex { jobs } => {
            let db = connect(&config).await?;
            zoufang_server::standards::refresh(&db).await?;
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let report = zoufang_server::projection::reindex::reindex_with(
                &db,
                jobs,
                zoufang_server::projection::reindex::PAGE,
            )
            .await?;
            println!(
                "已重建 {} 户(并发修改跳过 {} 户,无法读取 {} 户)",
                report.households,
                report.moved,
                report.unreadable.len()
            );
            for id in &report.unreadable {
                println!("  无法读取:{id}");
            }
            if report.unreadable.is_empty() {
                Ok(())
            } else {
                Err(refused("部分农户数据无法读取,见上"))
            }
        }
    }
}

/// Every database this process opened. SQLCipher, linked for the client's encrypted store
/// (`libsqlite3-sys` is shared), frees its crypto state in an `atexit` handler; an SQLite
/// connection that sqlx is still closing on its worker thread then touches freed memory, and
/// the process dies with "double free or corruption" after its work is done (seen on `user
/// add`). So `main` closes every pool, waiting for its connections, before it returns.
static OPENED: std::sync::Mutex<Vec<AnyDb>> = std::sync::Mutex::new(Vec::new());

/// Opens the database for an administrator's command, bringing its schema up to date first
/// (as `migrate` does) when this build has migrations it lacks.
async fn connect(config: &Config) -> Result<AnyDb, CliError> {
    let db = open(config).await?;
    if db.pending_migrations().await? > 0 {
        migrate(&db).await?;
    }
    Ok(db)
}

/// Opens the database as it is, to be closed before the process exits ([`OPENED`]).
async fn open(config: &Config) -> Result<AnyDb, CliError> {
    open_url(&config.database).await
}

async fn open_url(url: &str) -> Result<AnyDb, CliError> {
    let db = AnyDb::open(url).await.map_err(CliError::Connect)?;
    OPENED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(db.clone());
    Ok(db)
}

/// Applies the pending migrations, then rebuilds the projection if it holds fewer households
/// than the store (a migration that changes the projection empties it; so does a database from
/// before the projection existed).
async fn migrate(db: &AnyDb) -> Result<(), CliError> {
    db.migrate().await.map_err(CliError::Connect)?;
    rebuild_if_behind(db).await
}

/// The database a serving process uses: its schema checked, never counted or rebuilt at start
/// unless it is behind (the check reads the migrations table, whatever the province's size).
/// Behind, the embedded SQLite file is migrated (its server is its only user) and so is any
/// database with `--migrate`; otherwise the replica refuses to start on a schema it does not
/// know.
async fn open_for_serving(config: &Config, migrate_first: bool) -> Result<AnyDb, CliError> {
    let db = open(config).await?;
    let pending = db.pending_migrations().await?;
    if pending > 0 {
        if !(migrate_first || db.is_embedded()) {
            return Err(refused(format!(
                "数据库结构落后本版本 {pending} 项迁移:请先运行 zoufang-server migrate(或以 serve --migrate 启动)"
            )));
        }
        migrate(&db).await?;
    }
    Ok(db)
}

/// The standby reports are counted on: its schema, replicated from the primary, must be the
/// primary's (a standby cannot be migrated; it follows the primary's `migrate`).
async fn open_reports_copy(url: &str) -> Result<AnyDb, CliError> {
    let copy = open_url(url).await?;
    let pending = copy.pending_migrations().await?;
    if pending > 0 {
        return Err(refused(format!(
            "只读库(--read-database)的结构落后本版本 {pending} 项迁移:请等它从主库同步完成"
        )));
    }
    Ok(copy)
}

async fn close_databases() {
    let opened = std::mem::take(
        &mut *OPENED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for db in opened {
        db.close().await;
    }
}

/// Copies SQLite's write-ahead log into its file once a second, off every request's path (see
/// `SqliteDb::checkpoint`); a failure is retried at the next tick.
async fn checkpoints(db: AnyDb) {
    // PostgreSQL checkpoints on its own.
    let AnyDb::Sqlite(db) = db else {
        return;
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match db.checkpoint().await {
            Ok(()) => {}
            // The process is shutting down.
            Err(DbError::Other(sqlx::Error::PoolClosed)) => return,
            Err(error) => tracing::warn!(%error, "WAL checkpoint"),
        }
    }
}

async fn serve(config: Config, migrate_first: bool) -> Result<(), CliError> {
    let db = open_for_serving(&config, migrate_first).await?;
    zoufang_server::standards::refresh(&db).await?;
    tokio::spawn(zoufang_server::standards::watch(db.clone()));
    tokio::spawn(checkpoints(db.clone()));
    let reports = match &config.read_database {
        Some(url) => Some(open_reports_copy(url).await?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| CliError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    println!("走访服务器已启动:http://{addr}/");
    tracing::info!(%addr, reports_on_read_database = reports.is_some(), "listening");
    let limits = config.limits.clone();
    let mut state = AppState::new(db, config);
    if let Some(copy) = reports {
        state = state.with_reports(copy);
    }
    let app = router(Arc::new(state));
    zoufang_server::serve::serve(listener, app, &limits, shutdown_signal())
        .await
        .map_err(CliError::from)
}

/// A database from before the projection existed (or whose migration emptied it) has
/// households without projection rows: rebuild them before serving reports that would
/// otherwise undercount.
async fn rebuild_if_behind(db: &AnyDb) -> Result<(), CliError> {
    let stored = db.household_count().await?;
    let projected = db.projected_count().await?;
    if projected < stored {
        println!("正在重建审核统计表({projected}/{stored} 户已有)……");
        let report = zoufang_server::projection::reindex::reindex(db).await?;
        println!("已重建 {} 户", report.households);
    }
    Ok(())
}

/// Ctrl-C or SIGTERM, logged: the accept loop then lets answers in flight finish.
async fn shutdown_signal() {
    zoufang_shared::shutdown::shutdown_signal().await;
    tracing::info!("shutting down");
}
