//! The command line's grammar, and clap's help and errors put into Chinese: the people at the
//! keyboard are township staff, and an English parser message is no message to them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "zoufang",
    version,
    about = "走访:农户动态管理入户调查客户端,离线可用"
)]
pub struct Cli {
    #[arg(
        long,
        global = true,
        env = "ZOUFANG_DATA",
        value_name = "目录",
        display_order = 100,
        help = "数据目录(默认为系统数据目录下的 zoufang)"
    )]
    pub data: Option<PathBuf>,
    #[arg(
        long,
        global = true,
        display_order = 101,
        help = "输出 JSON,供其他程序读取"
    )]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(
        about = "初始化本设备:设置口令,建立加密的数据库、设备身份和使用者",
        after_help = "口令在终端中输入两次(不回显),至少 6 位,可用数字 PIN;\n\
                      供脚本使用时从环境变量 ZOUFANG_PASSPHRASE 读取。"
    )]
    Init {
        #[arg(long, value_name = "编号", help = "使用者的用户编号")]
        user_id: String,
        #[arg(long, value_name = "姓名", help = "使用者姓名")]
        user_name: String,
    },
    #[command(about = "导入国家系统导出的花名册 CSV(UTF-8 或 GBK 编码)")]
    Import {
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
    #[command(about = "列出农户,可按村、户状态、在办事项、问题标记筛选或按姓名搜索")]
    List(ListArgs),
    #[command(about = "查看一户:成员、收入、住房、饮水、走访、事项、评估和检查结果")]
    Show {
        #[arg(value_name = "农户", help = "农户编号(如 hh-5309…)或户编号")]
        id: String,
    },
    #[command(
        about = "修改一户的一个字段",
        after_help = "示例:zoufang edit hh-5309210010010001230 living.house_grade C级\n\
                      值按 JSON 解析,解析不了的按文本处理;null 清空字段。"
    )]
    Edit {
        #[arg(value_name = "农户", help = "农户编号(如 hh-5309…)或户编号")]
        id: String,
        #[arg(
            value_name = "字段",
            help = "字段路径,如 living.house_grade、info.phone"
        )]
        field: String,
        #[arg(value_name = "值", allow_hyphen_values = true)]
        value: String,
    },
    #[command(
        about = "放弃本设备对一户的修改,回到服务器上的版本(用于被服务器拒绝的农户)",
        after_help = "只影响这一户;该户在本设备上、服务器尚未收到的全部修改都会丢弃。\n\
                      从未同步到服务器的农户会从本设备删除。"
    )]
    Reset {
        #[arg(value_name = "农户", help = "农户编号(如 hh-5309…)或户编号")]
        id: String,
    },
    #[command(about = "以 JSON 导出全部农户或指定的农户")]
    Export {
        #[arg(value_name = "农户", help = "只导出这些农户(默认全部)")]
        ids: Vec<String>,
    },
    #[command(
        about = "把本设备登记到服务器(密码从 ZOUFANG_PASSWORD 或标准输入读取)",
        after_help = "示例:echo 密码 | zoufang enroll --server http://乡镇服务器:8090 --username zhang"
    )]
    Enroll {
        #[arg(
            long,
            value_name = "网址",
            help = "服务器地址,如 http://192.0.2.10:8090"
        )]
        server: String,
        #[arg(long, value_name = "用户名")]
        username: String,
        #[arg(
            long,
            value_name = "名称",
            default_value = "走访设备",
            help = "设备名称(便于管理员识别)"
        )]
        device_name: String,
    },
    #[command(about = "与服务器同步:上传本机修改,下载他人修改")]
    Sync,
    #[command(
        about = "更改本机数据的口令(数据库用新口令重新加密)",
        after_help = "口令在终端中输入(不回显);供脚本使用时,原口令从 ZOUFANG_PASSPHRASE、\n\
                      新口令从 ZOUFANG_NEW_PASSPHRASE 读取。"
    )]
    Passphrase,
    #[command(subcommand, about = "无网络时用文件(U 盘)同步")]
    Bundle(BundleCommand),
    #[command(about = "启动本机网页界面(手机浏览器访问)")]
    Serve {
        #[arg(long, value_name = "地址", default_value = "127.0.0.1", value_parser = ip, help = "监听地址")]
        bind: IpAddr,
        #[arg(long, value_name = "端口", default_value = "8080", value_parser = port, allow_hyphen_values = true, help = "监听端口")]
        port: u16,
        #[arg(long, help = "数据为空时载入演示农户")]
        demo: bool,
        #[arg(long, value_name = "时长", default_value = "15", value_parser = idle_time, help = "无操作多久后自动锁定:分钟数,或带单位如 30s、15m、1h(0 为不自动锁定)")]
        lock_after: std::time::Duration,
    },
    #[command(about = "核验 18 位居民身份证号码(可同时核对性别)")]
    CheckId {
        #[arg(value_name = "号码")]
        number: String,
        #[arg(long, value_name = "性别", help = "男 / 女")]
        sex: Option<String>,
    },
    #[command(about = "评估一户(农户 JSON 文件)是否达到两不愁三保障、饮水和收入标准,并做数据检查")]
    Assess {
        #[arg(
            value_name = "文件",
            help = "农户数据 JSON 文件(zoufang export 的单户格式)"
        )]
        file: PathBuf,
        #[arg(long, value_name = "年度", value_parser = year, allow_hyphen_values = true, help = "评估年度(默认最近的收入年度)")]
        year: Option<i32>,
        #[arg(long, value_name = "日期", value_parser = date, help = "按此日期计算年龄(默认今天)")]
        on: Option<NaiveDate>,
    },
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long, value_name = "村", help = "只列出这个村")]
    pub village: Option<String>,
    #[arg(
        long,
        value_name = "户状态",
        help = "户状态,如 已脱贫(享受政策)、边缘户"
    )]
    pub status: Option<String>,
    #[arg(
        long = "case",
        value_name = "事项",
        help = "有在办的这类事项,如 脱贫退出、返贫"
    )]
    pub case_kind: Option<String>,
    #[arg(
        long,
        value_name = "标记",
        help = "有这个问题标记,如 head_missing、conflict"
    )]
    pub flag: Option<String>,
    #[arg(long, value_name = "文字", help = "按成员姓名、户编号、村或组搜索")]
    pub search: Option<String>,
    #[arg(long, value_name = "条数", value_parser = limit, allow_hyphen_values = true, help = "最多列出多少户")]
    pub limit: Option<u32>,
}

fn port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| "端口应为 0–65535 之间的整数".to_owned())
}

fn limit(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| "条数应为不小于 0 的整数".to_owned())
}

/// A plain number is minutes (as before units were accepted); `s`, `m`, `h` name the unit.
/// Seconds are for tests and demonstrations of the auto-lock.
fn idle_time(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h'))) => (&s[..i], c),
        _ => (s, 'm'),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| "时长应为不小于 0 的整数,可带单位 s、m、h,如 15 或 30s".to_owned())?;
    let seconds = match unit {
        's' => n,
        'h' => n.saturating_mul(3600),
        _ => n.saturating_mul(60),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

fn year(s: &str) -> Result<i32, String> {
    s.parse()
        .map_err(|_| "年度应为四位数年份,如 2026".to_owned())
}

fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "日期应形如 2026-03-01".to_owned())
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| "地址应为 IP 地址,如 127.0.0.1(仅本机)或 0.0.0.0(局域网)".to_owned())
}

const HELP_TEMPLATE: &str = "{about-with-newline}\n用法:{usage}\n\n{all-args}{after-help}";

/// Chinese headings and help/version flags, on the command and every subcommand.
fn localise(cmd: clap::Command, root: bool) -> clap::Command {
    let mut cmd = cmd
        .help_template(HELP_TEMPLATE)
        .subcommand_help_heading("命令")
        .subcommand_value_name("命令")
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .mut_args(|a| {
            let heading = if a.is_positional() {
                "参数"
            } else {
                "选项"
            };
            a.help_heading(heading)
        })
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示帮助")
                .help_heading("选项"),
        );
    if root {
        cmd = cmd.arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("显示版本")
                .help_heading("选项"),
        );
    }
    cmd.mut_subcommands(|s| localise(s, false))
}

/// What the command line asks for; or, when it asks for help or is wrong, the exit code after
/// printing the help or a Chinese message.
pub fn parse() -> Result<Cli, ExitCode> {
    let cmd = localise(Cli::command(), true);
    let matches = cmd
        .clone()
        .try_get_matches()
        .map_err(|e| report(&cmd, &e))?;
    Cli::from_arg_matches(&matches).map_err(|e| report(&cmd, &e))
}

fn report(cmd: &clap::Command, e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Nothing useful is left to do if stdout is gone.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            eprintln!("错误:请指定要执行的命令\n");
            eprint!("{}", cmd.clone().render_help());
            ExitCode::from(2)
        }
        _ => {
            eprintln!("错误:{}", message(e));
            eprintln!("(运行 zoufang --help 或 zoufang <命令> --help 查看用法)");
            ExitCode::from(2)
        }
    }
}

/// clap's error, told in Chinese from its structured context rather than its English text.
fn message(e: &clap::Error) -> String {
    let get = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join("、")),
        Some(ContextValue::StyledStr(s)) => Some(s.to_string()),
        Some(ContextValue::StyledStrs(v)) => Some(
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("、"),
        ),
        Some(ContextValue::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let arg = get(ContextKind::InvalidArg).unwrap_or_default();
    let value = get(ContextKind::InvalidValue).unwrap_or_default();
    let suggestion = get(ContextKind::SuggestedArg)
        .or_else(|| get(ContextKind::SuggestedSubcommand))
        .map(|s| format!(",是否想用「{s}」?"))
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::InvalidSubcommand => format!(
            "不认识的命令「{}」{suggestion}",
            get(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        ErrorKind::UnknownArgument => format!("不认识的参数「{arg}」{suggestion}"),
        ErrorKind::MissingRequiredArgument => format!("缺少必需的参数:{arg}"),
        ErrorKind::InvalidValue if value.is_empty() => format!("参数 {arg} 需要一个值"),
        ErrorKind::InvalidValue => match get(ContextKind::ValidValue) {
            Some(valid) => format!("参数 {arg} 的值「{value}」无效,可选:{valid}"),
            None => format!("参数 {arg} 的值「{value}」无效"),
        },
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(|s| format!(":{s}"))
                .unwrap_or_default();
            format!("参数 {arg} 的值「{value}」无效{why}")
        }
        ErrorKind::ArgumentConflict => format!(
            "参数 {arg} 不能与 {} 同时使用",
            get(ContextKind::PriorArg).unwrap_or_default()
        ),
        ErrorKind::TooManyValues | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("参数 {arg} 的值的个数不对")
        }
        ErrorKind::NoEquals => format!("参数 {arg} 的值须用 = 连接"),
        ErrorKind::InvalidUtf8 => "命令行参数不是有效的 UTF-8 文本".to_owned(),
        _ => "命令行参数有误".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_is_consistent() {
        localise(Cli::command(), true).debug_assert();
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    #[command(about = "把服务器尚未收到的修改写入同步文件,带到乡镇导入服务器")]
    Export {
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
    #[command(about = "导入服务器写回的回执文件(确认已接收并带回他人的修改)")]
    Import {
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
}
