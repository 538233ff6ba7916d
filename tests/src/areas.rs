//! The demo county of [`crate::AREAS_CSV`] as the stories name it, and days as its server
//! counts them.

use chrono::{Days, FixedOffset, NaiveDate, Utc};

/// 县: the demo county.
pub const COUNTY: &str = "530921";
/// 诗礼乡 and its villages 三合村, 孔兴村 and 河平村.
pub const SHILI: &str = "530921100";
pub const SANHE: &str = "530921100201";
pub const KONGXING: &str = "530921100202";
pub const HEPING: &str = "530921100203";
/// 小湾镇 and its 锦秀村.
pub const XIAOWAN: &str = "530921200";
pub const JINXIU: &str = "530921200201";

/// Today as the server counts days (China Standard Time, whatever the machine's zone): 公示
/// periods, decision dates and the report's "running" are all judged by it.
pub fn today() -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    Utc::now().with_timezone(&cst).date_naive()
}

pub fn days_before(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).expect("date")
}

pub fn days_after(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).expect("date")
}

/// The day `n` days from [`today`] (before it when `n` is negative).
pub fn day(n: i64) -> NaiveDate {
    let t = today();
    if n >= 0 {
        days_after(t, n.unsigned_abs())
    } else {
        days_before(t, n.unsigned_abs())
    }
}
