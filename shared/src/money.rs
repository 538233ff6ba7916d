//! Money in integer fen and land in hundredths of a mu: exact decimal quantities with no floats,
//! so sums and per-capita divisions are reproducible on every device.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in fen (1 yuan = 100 fen). Serialised as an integer number of fen.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// A decimal text that is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("「{0}」不是有效的数字(最多两位小数)")]
    Malformed(String),
    #[error("金额不能为负数:{0}")]
    Negative(String),
    #[error("数值过大:{0}")]
    TooLarge(String),
}

/// Parses "1234", "1234.5", "1234.56" into hundredths; rejects more decimals, signs and junk.
fn parse_hundredths(text: &str) -> Result<i64, AmountError> {
    let t = text.trim().replace([',', ','], "");
    if t.starts_with('-') {
        return Err(AmountError::Negative(text.trim().to_owned()));
    }
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(frac) || frac.len() > 2 {
        return Err(AmountError::Malformed(text.trim().to_owned()));
    }
    let too_large = || AmountError::TooLarge(text.trim().to_owned());
    let whole: i64 = whole.parse().map_err(|_| too_large())?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(too_large)
}

fn fmt_hundredths(v: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    write!(f, "{sign}{}.{:02}", a / 100, a % 100)
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn from_yuan(yuan: i64) -> Fen {
        Fen(yuan * 100)
    }

    /// Parses a yuan amount as typed on a form ("1234.5"). Negative amounts are refused.
    pub fn parse_yuan(text: &str) -> Result<Fen, AmountError> {
        parse_hundredths(text).map(Fen)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals, e.g. `1234.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hundredths(self.0, f)
    }
}

/// An area in hundredths of a mu (亩). Serialised as a decimal string ("3.25") so a form's text
/// and the stored value agree exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mu(pub i64);

impl Mu {
    pub fn parse(text: &str) -> Result<Mu, AmountError> {
        parse_hundredths(text).map(Mu)
    }
}

impl fmt::Display for Mu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hundredths(self.0, f)
    }
}

crate::serde_as_text!(Mu, |m| &m.to_string(), Mu::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_text_exactly() {
        assert_eq!(Fen::parse_yuan("2000"), Ok(Fen(200_000)));
        assert_eq!(Fen::parse_yuan("12.5"), Ok(Fen(1250)));
        assert_eq!(Fen::parse_yuan(" 1,234.56 "), Ok(Fen(123_456)));
        assert_eq!(Fen(123_456).to_string(), "1234.56");
        assert_eq!(Fen(-5).to_string(), "-0.05");
    }

    #[test]
    fn refuses_bad_amounts() {
        assert!(matches!(
            Fen::parse_yuan("-3"),
            Err(AmountError::Negative(_))
        ));
        for text in ["1.234", "abc", ""] {
            let got = Fen::parse_yuan(text);
            assert!(
                matches!(got, Err(AmountError::Malformed(_))),
                "{text:?}: {got:?}"
            );
        }
        assert!(matches!(
            Fen::parse_yuan("99999999999999999999"),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn mu_round_trips_as_decimal_string() {
        let m = Mu::parse("3.5").expect("valid");
        assert_eq!(m, Mu(350));
        assert_eq!(serde_json::to_string(&m).expect("ser"), "\"3.50\"");
        assert_eq!(serde_json::from_str::<Mu>("\"3.50\"").expect("de"), m);
        assert!(serde_json::from_str::<Mu>("\"-1\"").is_err());
    }
}
