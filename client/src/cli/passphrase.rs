//! Where the passphrase comes from: the environment (for scripts and tests), else the terminal
//! without echo. Never a command-line argument: those show in `ps` and shell history.

use std::io::IsTerminal;
use std::process::ExitCode;

use zeroize::Zeroizing;
use zoufang_client::store::Store;

use super::output::Text;
use super::{Context, Failure, Outcome};

/// The passphrase for automation. Interactive use types it at the prompt instead.
pub const PASSPHRASE_ENV: &str = "ZOUFANG_PASSPHRASE";
/// The new passphrase of `zoufang passphrase`, for automation.
pub const NEW_PASSPHRASE_ENV: &str = "ZOUFANG_NEW_PASSPHRASE";

/// The passphrase from `env`, else typed at the terminal (twice when it is being set).
pub fn read(env: &str, prompt: &str, setting: bool) -> Result<Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var(env) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::error(format!(
            "需要口令:请在终端中运行以输入口令,或(供脚本使用)用环境变量 {env} 提供"
        )));
    }
    let typed = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::error(format!("无法读取口令:{e}")))
    };
    let first = typed(prompt)?;
    if setting && *typed("再次输入口令:")? != *first {
        return Err(Failure::error("两次输入的口令不一致,未做任何改动"));
    }
    Ok(first)
}

/// The store's passphrase; when the store is being set up (new, or written before encryption)
/// it is typed twice.
pub fn for_store(ctx: &Context) -> Result<Zeroizing<String>, Failure> {
    let setting = Store::needs_passphrase_setup(&ctx.data_dir()?)?;
    let prompt = if setting {
        "设置口令(至少 6 位,可用数字 PIN):"
    } else {
        "口令:"
    };
    read(PASSPHRASE_ENV, prompt, setting)
}

/// `zoufang passphrase`: changes the passphrase (the database is rewritten under the new key).
pub fn change(ctx: &Context) -> Outcome {
    let mut store = ctx.store()?;
    let new = read(NEW_PASSPHRASE_ENV, "新口令(至少 6 位,可用数字 PIN):", true)?;
    store.change_passphrase(&new)?;
    let mut t = Text::default();
    t.line(format_args!("口令已更改"));
    t.emit()?;
    Ok(ExitCode::SUCCESS)
}
