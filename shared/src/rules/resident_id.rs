//! 居民身份证号码 (GB 11643-1999): 6-digit region code, 8-digit birth date, 3-digit sequence
//! (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
//!
//! A [`ResidentId`] exists only once the text has passed every check, so code holding one can
//! read the birth date and sex without re-validating. The number is sensitive (never published
//! in a 公示): `Debug` prints the masked form, and there is deliberately no `Display`; callers
//! choose [`ResidentId::as_str`] or [`ResidentId::masked`] explicitly.

use crate::codes::Sex;
use chrono::NaiveDate;
use std::fmt;

const LEN: usize = 18;
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// No one alive was born before this; earlier years are typos (e.g. "0949" for "1949").
const MIN_BIRTH_YEAR: i32 = 1900;

/// Why a text is not a valid resident ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("证件号码应为 18 位,实为 {got} 位")]
    Length { got: usize },
    #[error("证件号码前 17 位应为数字,最后一位应为数字或 X")]
    NotDigits,
    #[error("证件号码校验位错误:应为 {expected},实为 {got}")]
    CheckDigit { expected: char, got: char },
    #[error("证件号码中的出生日期「{0}」不是有效日期")]
    BirthDate(String),
    #[error("证件号码中的出生日期晚于今天")]
    FutureBirth,
    #[error("性别与证件号码不符:证件号码为{id_sex}性,登记为{member_sex}性")]
    SexMismatch { id_sex: Sex, member_sex: Sex },
}

/// A validated 18-character resident ID, with a final `x` normalised to `X`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId(String);

/// The check character for the first 17 characters, or `None` if they are not 17 ASCII digits.
pub fn check_digit(first17: &str) -> Option<char> {
    if first17.len() != LEN - 1 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// Full-width digits and Ｘ come from Chinese input methods left in full-width mode; they are the
/// same number, so they are accepted rather than sending the surveyor hunting for the difference.
fn normalise_char(c: char) -> char {
    match c {
        '０'..='９' => {
            char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
        }
        'x' | 'Ｘ' | 'ｘ' => 'X',
        _ => c,
    }
}

impl ResidentId {
    /// Checks length, characters, check digit and birth date. It cannot know today's date, so a
    /// birth date in the future passes here; use [`ResidentId::parse_on`] wherever a date is known.
    pub fn parse(text: &str) -> Result<ResidentId, IdError> {
        let s: String = text.trim().chars().map(normalise_char).collect();
        let got = s.chars().count();
        if got != LEN {
            return Err(IdError::Length { got });
        }
        // 18 chars in 18 bytes means all ASCII, so the byte split below is on a char boundary.
        if s.len() != LEN {
            return Err(IdError::NotDigits);
        }
        let (body, last) = s.split_at(LEN - 1);
        let got = last.chars().next().unwrap_or('?');
        let Some(expected) = check_digit(body).filter(|_| got == 'X' || got.is_ascii_digit())
        else {
            return Err(IdError::NotDigits);
        };
        if got != expected {
            return Err(IdError::CheckDigit { expected, got });
        }
        let id = ResidentId(s);
        id.parse_birth()?;
        Ok(id)
    }

    /// [`ResidentId::parse`], also refusing a birth date after `today`.
    pub fn parse_on(text: &str, today: NaiveDate) -> Result<ResidentId, IdError> {
        let id = ResidentId::parse(text)?;
        if id.birth_date() > today {
            return Err(IdError::FutureBirth);
        }
        Ok(id)
    }

    fn birth_text(&self) -> &str {
        self.0.get(6..14).unwrap_or("")
    }

    fn parse_birth(&self) -> Result<NaiveDate, IdError> {
        let text = self.birth_text();
        let bad = || IdError::BirthDate(text.to_owned());
        let field = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<u32>().ok());
        let (Some(y), Some(m), Some(d)) = (field(0..4), field(4..6), field(6..8)) else {
            return Err(bad());
        };
        let y = i32::try_from(y).map_err(|_| bad())?;
        if y < MIN_BIRTH_YEAR {
            return Err(bad());
        }
        NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad)
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Validated by `parse`, so the fallback is unreachable; it only keeps this total.
        self.parse_birth().unwrap_or_default()
    }

    /// The 17th character (last of the sequence number): odd for men, even for women.
    pub fn sex(&self) -> Sex {
        // ASCII '0' is even, so a digit's byte has the digit's parity.
        let odd = self.0.as_bytes().get(16).is_some_and(|b| b % 2 == 1);
        if odd { Sex::Male } else { Sex::Female }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 4 and last 4 characters, the rest `*`: enough to tell people apart on an export or
    /// notice without exposing the number.
    pub fn masked(&self) -> String {
        let head = self.0.get(..4).unwrap_or("");
        let tail = self.0.get(LEN - 4..).unwrap_or("");
        format!("{head}{}{tail}", "*".repeat(LEN - 8))
    }

    /// 行政区划代码 where the ID was issued (first 6 digits).
    pub fn region_code(&self) -> &str {
        self.0.get(..6).unwrap_or("")
    }
}

/// Does the recorded sex agree with the one encoded in the ID?
pub fn check_sex(id: &ResidentId, sex: Sex) -> Result<(), IdError> {
    let id_sex = id.sex();
    if id_sex == sex {
        Ok(())
    } else {
        Err(IdError::SexMismatch {
            id_sex,
            member_sex: sex,
        })
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

impl std::str::FromStr for ResidentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ResidentId::parse(s)
    }
}

crate::serde_as_text!(ResidentId, |id| id.as_str(), ResidentId::parse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{date, id_with};

    #[test]
    fn accepts_the_standard_example() {
        let id = ResidentId::parse("11010519491231002X").expect("valid");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region_code(), "110105");
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(check_digit("11010519491231002"), Some('X'));
    }

    #[test]
    fn normalises_lowercase_x_and_full_width_digits() {
        let id = ResidentId::parse(" 11010519491231002x ").expect("valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        let wide = ResidentId::parse("１１０１０５１９４９１２３１００２Ｘ").expect("valid");
        assert_eq!(wide, id);
    }

    #[test]
    fn reads_sex_from_the_17th_digit() {
        let man = ResidentId::parse(&id_with("532301", "19800101", "001")).expect("valid");
        assert_eq!(man.sex(), Sex::Male);
        assert_eq!(check_sex(&man, Sex::Male), Ok(()));
        let err = check_sex(&man, Sex::Female).expect_err("mismatch");
        assert_eq!(
            err,
            IdError::SexMismatch {
                id_sex: Sex::Male,
                member_sex: Sex::Female
            }
        );
        assert_eq!(
            err.to_string(),
            "性别与证件号码不符:证件号码为男性,登记为女性"
        );
    }

    #[test]
    fn refuses_a_wrong_check_digit_naming_the_right_one() {
        let err = ResidentId::parse("110105194912310023").expect_err("bad check digit");
        assert_eq!(
            err,
            IdError::CheckDigit {
                expected: 'X',
                got: '3'
            }
        );
        assert_eq!(err.to_string(), "证件号码校验位错误:应为 X,实为 3");
    }

    #[test]
    fn refuses_impossible_birth_dates() {
        let feb30 = id_with("532301", "19800230", "001");
        assert_eq!(
            ResidentId::parse(&feb30),
            Err(IdError::BirthDate("19800230".into()))
        );
        let old = id_with("532301", "18991231", "001");
        assert!(matches!(
            ResidentId::parse(&old),
            Err(IdError::BirthDate(_))
        ));
        let month13 = id_with("532301", "19801301", "001");
        assert!(matches!(
            ResidentId::parse(&month13),
            Err(IdError::BirthDate(_))
        ));
    }

    #[test]
    fn refuses_a_future_birth_only_when_today_is_known() {
        let text = id_with("532301", "20300101", "002");
        assert!(ResidentId::parse(&text).is_ok());
        assert_eq!(
            ResidentId::parse_on(&text, date(2025, 6, 1)),
            Err(IdError::FutureBirth)
        );
        assert!(ResidentId::parse_on(&text, date(2030, 1, 1)).is_ok());
    }

    #[test]
    fn refuses_wrong_length_and_letters() {
        assert_eq!(
            ResidentId::parse("11010519491231002"),
            Err(IdError::Length { got: 17 })
        );
        assert_eq!(ResidentId::parse(""), Err(IdError::Length { got: 0 }));
        for text in [
            "1101051949123100X2",
            "11010519491231002Y",
            "11010519491231002张",
            "1101051949 231002X",
        ] {
            assert_eq!(ResidentId::parse(text), Err(IdError::NotDigits), "{text}");
        }
    }

    #[test]
    fn debug_does_not_leak_the_number() {
        let id = ResidentId::parse("11010519491231002X").expect("valid");
        assert_eq!(format!("{id:?}"), "ResidentId(\"1101**********002X\")");
    }

    #[test]
    fn serialises_as_the_plain_string() {
        let id = ResidentId::parse("11010519491231002X").expect("valid");
        let json = serde_json::to_string(&id).expect("ser");
        assert_eq!(json, "\"11010519491231002X\"");
        assert_eq!(serde_json::from_str::<ResidentId>(&json).expect("de"), id);
        assert!(serde_json::from_str::<ResidentId>("\"110105194912310023\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = ResidentId::parse(&s);
        }

        #[test]
        fn any_valid_body_with_its_check_digit_parses(
            seq in 0u32..1000, days in 0i64..40_000,
        ) {
            let birth = date(1900, 1, 1) + chrono::Duration::days(days);
            let text = id_with("532301", &birth.format("%Y%m%d").to_string(), &format!("{seq:03}"));
            let id = ResidentId::parse(&text).expect("valid");
            proptest::prop_assert_eq!(id.birth_date(), birth);
        }
    }
}
