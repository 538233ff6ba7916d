//! `zoufang`: the field client.
//!
//! So far it checks data with the shared rules; the offline store, the web UI and sync build on
//! it.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use zoufang_shared::codes::{CodeList, Sex};
use zoufang_shared::model::Household;
use zoufang_shared::rules::{assessment, checks, resident_id::ResidentId, standards::Standards};

#[derive(Parser)]
#[command(
    name = "zoufang",
    version,
    about = "走访 field client: offline household surveys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check an 18-digit resident ID number (and, given a sex, that it matches)
    CheckId {
        number: String,
        /// 男 / 女 (or male / female)
        #[arg(long)]
        sex: Option<String>,
    },
    /// Assess a household (model JSON) against 两不愁三保障, water and income, and run the checks
    Assess {
        /// Household JSON file, as `zoufang-shared`'s model serialises it
        file: PathBuf,
        /// Survey year (default: the latest income year)
        #[arg(long)]
        year: Option<i32>,
        /// Date ages are computed on (default: today)
        #[arg(long)]
        on: Option<NaiveDate>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("错误:{message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::CheckId { number, sex } => {
            let id = ResidentId::parse_on(&number, chrono::Local::now().date_naive())
                .map_err(|e| e.to_string())?;
            if let Some(sex) = sex {
                let sex = Sex::parse(&sex).map_err(|e| e.to_string())?;
                zoufang_shared::rules::resident_id::check_sex(&id, sex)
                    .map_err(|e| e.to_string())?;
            }
            println!(
                "有效:出生日期 {},性别 {}",
                id.birth_date(),
                id.sex().label()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Assess {
            file,
            year,
            on,
            json,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("无法读取 {}:{e}", file.display()))?;
            let household: Household =
                serde_json::from_str(&text).map_err(|e| format!("农户数据无效:{e}"))?;
            let standards = Standards::builtin().map_err(|e| e.to_string())?;
            let on = on.unwrap_or_else(|| chrono::Local::now().date_naive());
            let year = year
                .or_else(|| household.incomes.keys().next_back().copied())
                .or(household.info.year)
                .ok_or("没有收入年度,请用 --year 指定")?;
            let verdict = assessment::assess(&household, year, on, &standards);
            let findings = checks::check_household(&household, on, &standards);
            if json {
                let out = serde_json::json!({ "assessment": verdict, "findings": findings });
                println!("{out:#}");
            } else {
                println!(
                    "{} 年评估:{}",
                    year,
                    if verdict.passed {
                        "达标"
                    } else {
                        "未达标"
                    }
                );
                if let Some(s) = &verdict.standard {
                    println!("  标准:{}({} 元/人·年)", s.describe(), s.amount);
                }
                if let Some(i) = &verdict.income {
                    println!("  人均纯收入:{} 元", i.per_capita);
                }
                for f in &verdict.failures {
                    println!("  ✗ {f}");
                }
                for f in &findings {
                    println!("  {f}");
                }
            }
            Ok(if verdict.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
