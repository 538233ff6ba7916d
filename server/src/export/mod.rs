//! Table export: one in-memory [`Table`] becomes CSV bytes ([`Table::to_csv`]) or XLSX bytes
//! ([`Table::to_xlsx`]) for download, plus the `Content-Disposition` value that names the file
//! ([`content_disposition`]).
//!
//! Nothing here touches the network or the file system: both formats are built in memory.
//!
//! Cell kinds carry their meaning, not a rendering, so each format can do it right:
//! money is kept in fen (分) and shown as yuan with two decimals; ratios are kept as 0..1 and
//! shown as percentages; text that looks like a number (an 18-digit ID card number, a phone
//! number) stays text in both formats.
//!
//! No data makes an export fail: text longer than a cell holds is cut, visibly
//! ([`MAX_CELL_UNITS`]).

use std::borrow::Cow;

mod csv_out;
mod xlsx;

/// `Content-Type` for [`Table::to_csv`] output.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";
/// `Content-Type` for [`Table::to_xlsx`] output.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A rectangular table to export. Rows shorter than the header are padded with empty cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Sheet name (sanitised, see [`sanitize_sheet_name`]) and file title; usually Chinese.
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One cell of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, written as text in both formats even when it looks like a number (ID numbers).
    Text(String),
    /// A whole number.
    Int(i64),
    /// Money in fen, shown as yuan with 2 decimals.
    Fen(i64),
    /// A ratio 0..1, shown as a percentage with 2 decimals. NaN and infinities export as empty.
    Percent(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

/// Why an XLSX export failed: the table's shape, never its data. (CSV export cannot fail.)
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// More rows or columns than one Excel worksheet holds (1,048,576 × 16,384).
    #[error("table too large for one worksheet: {rows} rows, {columns} columns")]
    TooLarge { rows: usize, columns: usize },
    /// The XLSX writer refused something.
    #[error("xlsx export: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// Most text one cell holds: Excel's 32,767 characters, which Excel and the XLSX writer count
/// in UTF-16 units (a character beyond the Basic Multilingual Plane counts two; Chinese text
/// and everything else, one). CSV cells are cut at the same length, so a CSV opened in Excel
/// shows what the XLSX shows.
pub const MAX_CELL_UNITS: usize = 32_767;

/// `text` in at most `max_units` UTF-16 units (see [`MAX_CELL_UNITS`]): whole when it fits,
/// else as much of its beginning as fits with a marker saying it was cut and how many
/// characters it had, e.g. `张三张三…(已截断,原长 40000 字)`. A character is never split.
pub fn fit_cell(text: &str, max_units: usize) -> Cow<'_, str> {
    // UTF-8 never takes fewer bytes than UTF-16 takes units: most text is done here.
    if text.len() <= max_units || text.encode_utf16().count() <= max_units {
        return Cow::Borrowed(text);
    }
    let marker = format!("…(已截断,原长 {} 字)", text.chars().count());
    let room = max_units.saturating_sub(marker.encode_utf16().count());
    let mut units = 0;
    let end = text
        .char_indices()
        .find(|(_, c)| {
            units += c.len_utf16();
            units > room
        })
        .map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}{marker}", &text[..end]))
}

impl Table {
    /// Number of columns: the header's, or the widest row's if a row is wider.
    fn width(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .fold(self.headers.len(), usize::max)
    }
}

/// Fen as yuan with exactly two decimals, e.g. `12345` → `"123.45"`, `-5` → `"-0.05"`.
/// Integer arithmetic, so no float rounding ever shows.
pub fn fen_to_yuan(fen: i64) -> String {
    let abs = fen.unsigned_abs();
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Make `title` a valid Excel worksheet name: the characters `[ ] : * ? / \` and control
/// characters become `_`, leading/trailing blanks and apostrophes go, the result is cut to
/// Excel's 31 UTF-16 units, the reserved name `History` gets a `_` suffix, and an empty name
/// becomes `Sheet1`.
pub fn sanitize_sheet_name(title: &str) -> String {
    const MAX_UTF16: usize = 31;
    let trim = |s: &str| {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\'')
            .to_owned()
    };
    let replaced: String = title
        .chars()
        .map(|c| {
            if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut name = String::new();
    let mut units = 0;
    for c in trim(&replaced).chars() {
        units += c.len_utf16();
        if units > MAX_UTF16 {
            break;
        }
        name.push(c);
    }
    let name = trim(&name);
    if name.is_empty() {
        "Sheet1".to_owned()
    } else if name.eq_ignore_ascii_case("history") {
        format!("{name}_")
    } else {
        name
    }
}

/// A `Content-Disposition` header value (RFC 6266) for downloading `filename_stem.ext`:
/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>`.
///
/// Browsers use `filename*` (RFC 5987/8187) and so get the Chinese name; the plain `filename`
/// is an ASCII-only fallback for old clients (the ASCII letters, digits, `-` and `_` of the
/// stem, or `export` if none). Path separators and control characters in the stem become `_`;
/// `ext` keeps only ASCII letters and digits.
pub fn content_disposition(filename_stem: &str, ext: &str) -> String {
    let ext: String = ext.chars().filter(char::is_ascii_alphanumeric).collect();
    let dot_ext = if ext.is_empty() {
        String::new()
    } else {
        format!(".{ext}")
    };

    // ASCII fallback: keep the safe ASCII characters, one `_` for each run of anything else.
    let mut fallback = String::new();
    for c in filename_stem.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            fallback.push(c);
        } else if !fallback.is_empty() && !fallback.ends_with('_') {
            fallback.push('_');
        }
    }
    let fallback = fallback.trim_matches('_');
    let fallback = if fallback.is_empty() {
        "export"
    } else {
        fallback
    };

    let full: String = filename_stem
        .chars()
        .map(|c| {
            if c.is_control() || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .chain(dot_ext.chars())
        .collect();
    format!(
        "attachment; filename=\"{fallback}{dot_ext}\"; filename*=UTF-8''{}",
        percent_encode_attr(&full)
    )
}

/// Percent-encode for an RFC 5987 `ext-value`: every byte of the UTF-8 form except
/// `attr-char` (ALPHA / DIGIT / `!#$&+-.^_`|~`) becomes `%XX`.
///
/// Hand-written rather than a `percent-encoding` dependency: the allowed set is fixed by the
/// RFC, the whole job is this loop, and the tests below pin it down.
fn percent_encode_attr(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        let attr_char = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        if attr_char {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// A table for the format tests, its headers given as text.
#[cfg(test)]
fn test_table(title: &str, headers: &[&str], rows: Vec<Vec<Cell>>) -> Table {
    Table {
        title: title.into(),
        headers: headers.iter().map(|h| (*h).into()).collect(),
        rows,
    }
}

/// The row both format tests start their sample with: every kind of cell, an ID number that
/// must stay text.
#[cfg(test)]
fn sample_row() -> Vec<Cell> {
    vec![
        Cell::Text("张三".into()),
        Cell::Text("110101199003074514".into()),
        Cell::Int(4),
        Cell::Fen(12345),
        Cell::Percent(0.125),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_shows_as_yuan_with_two_decimals() {
        assert_eq!(fen_to_yuan(12345), "123.45");
        assert_eq!(fen_to_yuan(0), "0.00");
        assert_eq!(fen_to_yuan(7), "0.07");
        assert_eq!(fen_to_yuan(-5), "-0.05");
        assert_eq!(fen_to_yuan(-100), "-1.00");
        assert_eq!(fen_to_yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn text_too_long_for_a_cell_is_cut_visibly_on_a_character_boundary() {
        let units = |s: &str| s.encode_utf16().count();
        let fits = "名".repeat(MAX_CELL_UNITS);
        assert!(matches!(fit_cell(&fits, MAX_CELL_UNITS), Cow::Borrowed(_)));
        for (text, chars) in [
            ("名".repeat(40_000), 40_000),
            ("a".repeat(MAX_CELL_UNITS + 1), MAX_CELL_UNITS + 1),
            // Two UTF-16 units each: the cut must not halve one.
            ("𠀀".repeat(20_000), 20_000),
            (format!("a{}", "𠀀".repeat(16_384)), 16_385),
        ] {
            let cut = fit_cell(&text, MAX_CELL_UNITS);
            let marker = format!("…(已截断,原长 {chars} 字)");
            assert!(cut.ends_with(&marker), "{}", &cut[cut.len() - 40..]);
            assert!(units(&cut) <= MAX_CELL_UNITS);
            assert!(units(&cut) >= MAX_CELL_UNITS - 1, "as much as fits is kept");
            let kept = &cut[..cut.len() - marker.len()];
            assert!(text.starts_with(kept));
        }
    }

    #[test]
    fn sheet_names_are_sanitised() {
        assert_eq!(sanitize_sheet_name("脱贫户名单"), "脱贫户名单");
        assert_eq!(sanitize_sheet_name("a[b]c:d*e?f/g\\h"), "a_b_c_d_e_f_g_h");
        assert_eq!(sanitize_sheet_name("  'x'  "), "x");
        assert_eq!(sanitize_sheet_name(""), "Sheet1");
        assert_eq!(sanitize_sheet_name("'''"), "Sheet1");
        assert_eq!(sanitize_sheet_name("history"), "history_");
        assert_eq!(sanitize_sheet_name("行\n1"), "行_1");
        // 31 UTF-16 units at most; CJK is one unit, astral characters two.
        let long = "城关镇东村监测户".repeat(5);
        assert_eq!(sanitize_sheet_name(&long).chars().count(), 31);
        assert_eq!(sanitize_sheet_name(&"𠀀".repeat(20)), "𠀀".repeat(15));
        // Cutting must not leave a trailing apostrophe.
        assert_eq!(
            sanitize_sheet_name(&format!("{}'b", "a".repeat(30))),
            "a".repeat(30)
        );
    }

    #[test]
    fn content_disposition_has_ascii_fallback_and_utf8_name() {
        assert_eq!(
            content_disposition("2024年脱贫户名单", "xlsx"),
            "attachment; filename=\"2024.xlsx\"; \
             filename*=UTF-8''2024%E5%B9%B4%E8%84%B1%E8%B4%AB%E6%88%B7%E5%90%8D%E5%8D%95.xlsx"
        );
        assert_eq!(
            content_disposition("名单", "csv"),
            "attachment; filename=\"export.csv\"; filename*=UTF-8''%E5%90%8D%E5%8D%95.csv"
        );
        assert_eq!(
            content_disposition("roster 东村 \"v2\";x", "csv"),
            "attachment; filename=\"roster_v2_x.csv\"; \
             filename*=UTF-8''roster%20%E4%B8%9C%E6%9D%91%20%22v2%22%3Bx.csv"
        );
        // No path separators or header-breaking characters get through.
        let v = content_disposition("../a\r\nb/c", "x\"lsx");
        assert_eq!(
            v,
            "attachment; filename=\"a_b_c.xlsx\"; filename*=UTF-8''.._a__b_c.xlsx"
        );
        assert!(v.is_ascii());
    }
}
