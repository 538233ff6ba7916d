//! `zoufang-server`: the central server. So far it validates and lists the income standards
//! table; serving, storage and sync build on it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zoufang_shared::CodeList;
use zoufang_shared::rules::standards::Standards;

#[derive(Parser)]
#[command(
    name = "zoufang-server",
    version,
    about = "走访 central server: merge, review, rosters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate and list an income standards table (default: the built-in one)
    Standards {
        /// A standards JSON file to check instead of the built-in table
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("错误:{message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Standards { file } => {
            let table = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("无法读取 {}:{e}", path.display()))?;
                    Standards::from_json(&text)
                }
                None => Standards::builtin(),
            }
            .map_err(|e| e.to_string())?;
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
    }
}
