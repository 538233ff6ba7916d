//! `zoufang-server standards`: list or check a table, and import the county's table (the
//! server is its authority; devices receive it after their next sync).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use zoufang_server::{projection, standards};
use zoufang_shared::CodeList;
use zoufang_shared::rules::standards::Standards;
use zoufang_storage_any::AnyDb;

use crate::error::{CliError, refused};

#[derive(Subcommand)]
pub enum StandardsCommand {
    /// Validate FILE and make it the county's table; every household's checks are recomputed
    Import { file: PathBuf },
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Lists `file` (checked), else the table the server uses: the imported one, or the built-in.
pub async fn list(file: Option<PathBuf>, db: Option<AnyDb>) -> Result<(), CliError> {
    let table = match (file, db) {
        (Some(path), _) => Standards::from_json(&read(&path)?)?,
        (None, Some(db)) => {
            standards::refresh(&db).await?;
            standards::current().standards.clone()
        }
        (None, None) => Standards::builtin()?,
    };
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

pub async fn run(command: StandardsCommand, db: AnyDb) -> Result<(), CliError> {
    match command {
        StandardsCommand::Import { file } => {
            let table = standards::import(&db, &read(&file)?)
                .await
                .map_err(|e| match e {
                    standards::ImportError::Invalid(e) => CliError::Standards(e),
                    standards::ImportError::Db(e) => CliError::from(e),
                })?;
            println!(
                "已导入标准表:{} 条(摘要 {}),设备下次同步时更新",
                table.standards.entries().len(),
                &table.digest[..12]
            );
            let report = projection::reindex::reindex(&db).await?;
            println!("已按新标准重新核查 {} 户", report.households);
            if report.unreadable.is_empty() {
                Ok(())
            } else {
                Err(refused(format!(
                    "{} 户数据无法读取,未重新核查",
                    report.unreadable.len()
                )))
            }
        }
    }
}
