//! Accounts and areas from the command line, and the demo county's accounts.

use zoufang_server::storage::{Accounts, DbError, NewUser, Role};
use zoufang_shared::CodeList;
use zoufang_storage_any::AnyDb;

use crate::error::{CliError, refused};
use crate::{AreaCommand, UserCommand};

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

pub async fn user(db: &AnyDb, command: UserCommand) -> Result<(), CliError> {
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

pub async fn area(db: &AnyDb, command: AreaCommand) -> Result<(), CliError> {
    match command {
        AreaCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).map_err(|source| CliError::Read {
                path: file.clone(),
                source,
            })?;
            let areas = zoufang_server::areas::parse_areas(&text)?;
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

pub async fn seed_demo(db: &AnyDb) -> Result<(), CliError> {
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
