//! `zoufang-server`: the central server and its admin commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use zoufang_server::app::{AppState, router};
use zoufang_server::config::{Config, ConfigError, Overrides};
use zoufang_server::storage::{AnyDb, Database, DbError, NewUser, Projections, Role};
use zoufang_shared::CodeList;
use zoufang_shared::rules::standards::Standards;

#[derive(Parser)]
#[command(
    name = "zoufang-server",
    version,
    about = "走访 central server: merge, review, rosters"
)]
struct Cli {
    /// TOML settings file (keys: database, listen, token_days, max_sync_bytes, publicity_min_days,
    /// no_visit_days, session_hours, spot_check_salt, public_url, and a [limits] table: see the
    /// README's limits table)
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
    /// Rebuild the supervisors' tables (rosters, reports, flags) from the stored documents
    Reindex,
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
    /// Validate and list an income standards table (default: the built-in one)
    Standards {
        /// A standards JSON file to check instead of the built-in table
        #[arg(long)]
        file: Option<PathBuf>,
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

/// Why a command failed. The message is what the operator reads after 错误:; the causes it
/// does not already name follow, one per line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("无法打开数据库:{0}")]
    Connect(#[source] DbError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("无法读取 {}:{source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("无法写入 {}:{source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("无法监听 {addr}:{source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("无法读取密码:{0}")]
    Password(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Bundle(#[from] zoufang_server::bundles::ImportError),
    #[error(transparent)]
    Edit(#[from] zoufang_server::server_edit::EditError),
    #[error(transparent)]
    Hash(#[from] argon2::password_hash::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Code(#[from] zoufang_shared::codes::UnknownCode),
    #[error(transparent)]
    Standards(#[from] zoufang_shared::rules::standards::StandardsError),
    /// A refusal in the operator's terms (no such user, an unknown area code), or the message
    /// of a module that reports its failures as text (backup and restore, the area CSV).
    #[error("{0}")]
    Refused(String),
}

fn refused(message: impl Into<String>) -> CliError {
    CliError::Refused(message.into())
}

/// The error and its causes, each cause on its own line unless a message above already said it.
fn report(e: &CliError) {
    eprintln!("错误:{e}");
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !said.contains(&text) {
            eprintln!("  原因:{text}");
            said.push_str(&text);
        }
        cause = c.source();
    }
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
    match runtime.block_on(run(cli)) {
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
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        database: cli.database.clone(),
        listen,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Standards { file } => standards(file),
        Command::Serve { .. } => serve(config).await,
        Command::Demo { .. } => {
            let db = connect(&config).await?;
            seed_demo(&db).await?;
            serve(config).await
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
            let summary = zoufang_server::backup::backup(&config.database, &file)
                .await
                .map_err(CliError::Refused)?;
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
        Command::Reindex => {
            let db = connect(&config).await?;
            let report = zoufang_server::projection::reindex::reindex(&db).await?;
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

async fn connect(config: &Config) -> Result<AnyDb, CliError> {
    AnyDb::connect(&config.database)
        .await
        .map_err(CliError::Connect)
}

async fn serve(config: Config) -> Result<(), CliError> {
    let db = connect(&config).await?;
    rebuild_if_behind(&db).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| CliError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    println!("走访服务器已启动:http://{addr}/");
    tracing::info!(%addr, "listening");
    let limits = config.limits.clone();
    let app = router(Arc::new(AppState::new(db, config)));
    zoufang_server::serve::serve(listener, app, &limits, shutdown_signal())
        .await
        .map_err(CliError::from)
}

/// A database from before the projection existed (or restored from documents alone) has
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

async fn restore(
    config: &Config,
    file: Option<PathBuf>,
    window_days: Option<i64>,
    mark: bool,
    close: bool,
) -> Result<(), CliError> {
    use zoufang_server::backup::{DEFAULT_WINDOW_DAYS, RecoveryStore};
    let days = window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
    if !(0..=365).contains(&days) {
        return Err(refused("--window-days 须在 0 到 365 之间"));
    }
    let window = chrono::Duration::days(days);
    if let Some(file) = file {
        let done = zoufang_server::backup::restore(&config.database, &file, window)
            .await
            .map_err(CliError::Refused)?;
        println!(
            "已从 {} 恢复:{} 户,变更日志至 {} 号",
            file.display(),
            done.households,
            done.point.seq
        );
        if let Some(aside) = &done.replaced {
            println!("原数据库已移至 {}(确认无误后可删除)", aside.display());
        }
        print_restore_next_steps(&done.point);
        return Ok(());
    }
    let db = connect(config).await?;
    if mark {
        let point = db
            .open_restore_point("restored by other means (--mark)", window)
            .await?;
        println!("已记录恢复点,变更日志至 {} 号", point.seq);
        print_restore_next_steps(&point);
        return Ok(());
    }
    if close {
        return match db.close_restore_point().await? {
            Some(point) => {
                println!(
                    "恢复窗口已关闭(恢复于 {}):此后设备只能提交本设备的修改",
                    point.restored_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                Ok(())
            }
            None => Err(refused("该数据库没有恢复记录")),
        };
    }
    // Otherwise (--status): the last restore and the recovery's progress.
    let Some(point) = db.restore_point().await? else {
        println!("该数据库没有恢复记录");
        return Ok(());
    };
    let now = chrono::Utc::now();
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    println!(
        "恢复于 {}(来源 {},恢复时变更日志至 {} 号)",
        time(point.restored_at),
        point.source,
        point.seq
    );
    match point.closed_at {
        Some(t) => println!("恢复窗口:已于 {} 关闭", time(t)),
        None if point.window_open(now) => {
            println!("恢复窗口:开放至 {}", time(point.window_until));
        }
        None => println!("恢复窗口:已于 {} 到期", time(point.window_until)),
    }
    let st = db.recovery_status(point.id).await?;
    let active: Vec<_> = st.devices.iter().filter(|d| !d.revoked).collect();
    let resynced = active.iter().filter(|d| d.resynced_at.is_some()).count();
    println!("在用设备恢复后已同步 {resynced}/{} 台:", active.len());
    for d in &st.devices {
        let state = match (d.revoked, d.resynced_at) {
            (true, _) => "已停用".to_owned(),
            (false, Some(t)) => format!("已同步 {}", time(t)),
            (false, None) => "未同步".to_owned(),
        };
        println!("  {}\t{}\t{}\t{state}", d.device_id, d.username, d.name);
    }
    println!("代其他设备补传的变更:{} 项", st.recovered.len());
    for r in &st.recovered {
        let c = &r.change;
        let mut notes = Vec::new();
        if !r.stored {
            notes.push("未入库");
        }
        if c.change_time.is_some_and(|t| t > point.restored_at) {
            notes.push("⚠ 变更时间晚于恢复时间");
        }
        println!(
            "  {}\t{}\t{}\t{} 的变更\t由 {} 补传\t{}\t{}",
            time(r.at),
            c.household_id,
            &c.hash[..c.hash.len().min(12)],
            c.actor_device,
            c.pushed_by,
            c.change_time.map(time).unwrap_or_else(|| "-".into()),
            notes.join(" ")
        );
    }
    Ok(())
}

fn print_restore_next_steps(point: &zoufang_server::backup::RestorePoint) {
    println!(
        "恢复窗口开放至 {}:各设备下次同步时会重新提交备份之后的修改(包括它们从其他设备收到的)。",
        point.window_until.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "设备都同步过后运行 zoufang-server restore --close;进度见 zoufang-server restore --status。"
    );
    println!("备份之后新建的账号、登记的设备、停用和区域调整须重新办理。");
}

/// Ctrl-C or SIGTERM, logged: the accept loop then lets answers in flight finish.
async fn shutdown_signal() {
    zoufang_shared::shutdown::shutdown_signal().await;
    tracing::info!("shutting down");
}

/// A new account's password; short ones are refused before anything is stored.
fn read_password() -> Result<String, CliError> {
    let p = zoufang_shared::term::read_password().map_err(CliError::Password)?;
    if p.chars().count() < 8 {
        return Err(refused(
            "密码至少 8 个字符(从 ZOUFANG_PASSWORD 或标准输入读取)",
        ));
    }
    Ok(p)
}

async fn user(db: &AnyDb, command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            username,
            name,
            role,
            areas,
        } => {
            let role = Role::parse(&role)?;
            let known = db.areas().await?;
            for a in &areas {
                if !known.iter().any(|k| &k.code == a) {
                    return Err(refused(format!("区划代码「{a}」不存在,请先导入区划")));
                }
            }
            let password = read_password()?;
            let hash =
                tokio::task::spawn_blocking(move || zoufang_server::auth::hash_password(&password))
                    .await??;
            match db
                .create_user(&NewUser {
                    username: username.clone(),
                    display_name: name,
                    password_hash: hash,
                    role,
                    areas,
                })
                .await
            {
                Ok(_) => {
                    println!("已添加用户 {username}");
                    Ok(())
                }
                Err(DbError::Duplicate) => Err(refused(format!("用户名 {username} 已存在"))),
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::List => {
            for u in db.users().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.username,
                    u.display_name,
                    u.role.label(),
                    u.areas.join(","),
                    if u.disabled { "已停用" } else { "正常" }
                );
            }
            Ok(())
        }
        UserCommand::Areas { username, areas } => {
            let known = db.areas().await?;
            if let Some(a) = areas.iter().find(|a| !known.iter().any(|k| &k.code == *a)) {
                return Err(refused(format!("区划代码「{a}」不存在,请先导入区划")));
            }
            match db.set_user_areas(&username, &areas).await {
                Ok(()) => {
                    println!("已将 {username} 的负责区域设为 {}", areas.join("、"));
                    Ok(())
                }
                Err(DbError::NotFound) => Err(refused(format!("没有用户 {username}"))),
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::Disable { username } => match db.set_user_disabled(&username, true).await {
            Ok(()) => {
                println!("已停用用户 {username}");
                Ok(())
            }
            Err(DbError::NotFound) => Err(refused(format!("没有用户 {username}"))),
            Err(e) => Err(e.into()),
        },
    }
}

async fn area(db: &AnyDb, command: AreaCommand) -> Result<(), CliError> {
    match command {
        AreaCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).map_err(|source| CliError::Read {
                path: file.clone(),
                source,
            })?;
            let areas = zoufang_server::areas::parse_areas(&text).map_err(CliError::Refused)?;
            let n = db.upsert_areas(&areas).await?;
            println!("已导入 {n} 个区划");
            Ok(())
        }
        AreaCommand::List => {
            for a in db.areas().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    a.code,
                    a.name,
                    a.parent.unwrap_or_default(),
                    a.level
                );
            }
            Ok(())
        }
    }
}

/// The demo accounts' password, printed for the person trying Zoufang out.
pub const DEMO_PASSWORD: &str = "zoufang-demo";

/// Households generated for an empty demo server, so the review pages have something to show.
const DEMO_HOUSEHOLDS: usize = 300;

/// (username, name, role, area) of the demo accounts.
const DEMO_USERS: [(&str, &str, Role, &str); 5] = [
    ("zhang", "张调查", Role::Surveyor, "530921100"),
    ("li", "李调查", Role::Surveyor, "530921100"),
    ("wang", "王审核", Role::TownshipReviewer, "530921100"),
    ("zhao", "赵督查", Role::CountySupervisor, "530921"),
    ("admin", "管理员", Role::Admin, "530921"),
];

async fn seed_demo(db: &AnyDb) -> Result<(), CliError> {
    db.upsert_areas(&zoufang_server::demo::demo_areas()).await?;
    for (username, name, role, area) in DEMO_USERS {
        if db.user_by_name(username).await?.is_some() {
            continue;
        }
        let hash =
            tokio::task::spawn_blocking(|| zoufang_server::auth::hash_password(DEMO_PASSWORD))
                .await??;
        db.create_user(&NewUser {
            username: username.into(),
            display_name: name.into(),
            password_hash: hash,
            role,
            areas: vec![area.into()],
        })
        .await?;
    }
    let seeded = zoufang_server::demo::seed_demo_households(db, DEMO_HOUSEHOLDS).await?;
    if seeded > 0 {
        println!("已生成 {seeded} 户演示农户(含各程序阶段的事项、一人多户、冲突等,供审核页面演示)");
    }
    println!("演示账号(密码均为 {DEMO_PASSWORD}):");
    for (username, name, role, area) in DEMO_USERS {
        println!("  {username}\t{name}\t{}\t{area}", role.label());
    }
    Ok(())
}

fn standards(file: Option<PathBuf>) -> Result<(), CliError> {
    let table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                path: path.clone(),
                source,
            })?;
            Standards::from_json(&text)
        }
        None => Standards::builtin(),
    }?;
    for s in table.entries() {
        println!(
            "{}\t{}\t{}\t{}\t{} 元\t{}",
            s.year,
            s.level.label(),
            s.region.as_deref().unwrap_or("-"),
            s.kind.label(),
            s.amount,
            s.source
        );
    }
    Ok(())
}
