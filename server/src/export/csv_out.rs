//! CSV: UTF-8 with a byte-order mark, CRLF line ends (RFC 4180), quoting only where needed.
//!
//! The BOM is what makes Excel on a Chinese Windows read the file as UTF-8 rather than GBK.

use std::borrow::Cow;

use super::{Cell, MAX_CELL_UNITS, Table, fen_to_yuan, fit_cell};

/// The UTF-8 byte-order mark.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Table {
    /// The table as CSV: BOM, header line, one line per row. Rows are padded with empty fields
    /// to the table's width, so every line has the same number of fields.
    ///
    /// Text that a spreadsheet would take for a formula (see [`looks_like_formula`]) gets a leading
    /// `'` (OWASP's advice against CSV injection), and text longer than a cell holds is cut
    /// ([`fit_cell`]); numbers are written as plain numbers, money as yuan (`123.45`), ratios as
    /// `12.50%`.
    pub fn to_csv(&self) -> Vec<u8> {
        let width = self.width();
        let mut out = BOM.to_vec();
        if width == 0 {
            return out;
        }
        {
            let mut w = ::csv::WriterBuilder::new()
                .terminator(::csv::Terminator::CRLF)
                .from_writer(&mut out);
            let header = padded(self.headers.iter().map(|h| csv_text(h)), width);
            let rows = self
                .rows
                .iter()
                .map(|row| padded(row.iter().map(csv_field), width));
            for record in std::iter::once(header).chain(rows) {
                // Every record has `width` fields and the sink is a Vec: nothing can fail.
                w.write_record(record.iter().map(|f| f.as_bytes()))
                    .expect("writing equal-length CSV records to memory cannot fail");
            }
            w.flush().expect("flushing CSV into a Vec cannot fail");
        }
        out
    }
}

fn padded<'a>(fields: impl Iterator<Item = Cow<'a, str>>, width: usize) -> Vec<Cow<'a, str>> {
    let mut v: Vec<_> = fields.collect();
    v.resize(width, Cow::Borrowed(""));
    v
}

fn csv_field(cell: &Cell) -> Cow<'_, str> {
    match cell {
        Cell::Text(s) => csv_text(s),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Fen(f) => Cow::Owned(fen_to_yuan(*f)),
        Cell::Percent(p) if p.is_finite() => Cow::Owned(format!("{:.2}%", p * 100.0)),
        Cell::Percent(_) | Cell::Empty => Cow::Borrowed(""),
    }
}

/// Text as a CSV field: cut to a cell, and prefixed with `'` when a spreadsheet would evaluate
/// it as a formula (OWASP's advice against CSV injection).
fn csv_text(s: &str) -> Cow<'_, str> {
    if looks_like_formula(s) {
        // The `'` takes one unit of the cell.
        Cow::Owned(format!("'{}", fit_cell(s, MAX_CELL_UNITS - 1)))
    } else {
        fit_cell(s, MAX_CELL_UNITS)
    }
}

/// What a spreadsheet takes for the start of a formula: OWASP's list (`=`, `+`, `-`, `@`, tab,
/// carriage return), `|` (a DDE command in Excel), and the full-width forms a Chinese input
/// method types (`＝＋－＠`), which Excel and WPS read as their ASCII forms.
const FORMULA_STARTS: [char; 11] = [
    '=', '+', '-', '@', '\t', '\r', '|', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// Whether a spreadsheet would evaluate `s` as a formula: it starts with one of
/// [`FORMULA_STARTS`], also after blanks (ASCII or the ideographic space U+3000), which a
/// spreadsheet skips.
fn looks_like_formula(s: &str) -> bool {
    s.trim_start_matches([' ', '\u{3000}'])
        .starts_with(FORMULA_STARTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{sample_row, test_table};

    fn sample() -> Table {
        test_table(
            "脱贫户名单",
            &["户主", "身份证号", "人数", "收入", "占比", "备注"],
            vec![
                [
                    sample_row(),
                    vec![Cell::Text("=HYPERLINK(\"http://x\")".into())],
                ]
                .concat(),
                vec![
                    Cell::Text("李四, \"小李\"".into()),
                    Cell::Text("+86 138".into()),
                    Cell::Int(-2),
                    Cell::Fen(-5),
                    Cell::Percent(f64::NAN),
                    Cell::Text("-1+1".into()),
                ],
                vec![
                    Cell::Text("@SUM(A1)".into()),
                    Cell::Text("\tx".into()),
                    Cell::Empty,
                ],
                vec![Cell::Text("\r1".into()), Cell::Text("多行\n备注".into())],
            ],
        )
    }

    fn read(bytes: &[u8]) -> Vec<Vec<String>> {
        let body = bytes
            .strip_prefix(BOM)
            .expect("CSV starts with a UTF-8 BOM");
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body)
            .records()
            .map(|r| {
                r.expect("valid CSV record")
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn csv_round_trip_keeps_chinese_and_escapes_formulas() {
        let bytes = sample().to_csv();
        assert!(bytes.starts_with(BOM));
        assert!(std::str::from_utf8(&bytes).is_ok());
        let rows = read(&bytes);
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[0],
            ["户主", "身份证号", "人数", "收入", "占比", "备注"]
        );
        assert_eq!(
            rows[1],
            [
                "张三",
                "110101199003074514",
                "4",
                "123.45",
                "12.50%",
                "'=HYPERLINK(\"http://x\")"
            ]
        );
        // Numbers are never escaped, even negative; text starting with `-`/`+` is.
        assert_eq!(
            rows[2],
            ["李四, \"小李\"", "'+86 138", "-2", "-0.05", "", "'-1+1"]
        );
        // Short rows are padded to the header's width.
        assert_eq!(rows[3], ["'@SUM(A1)", "'\tx", "", "", "", ""]);
        assert_eq!(rows[4], ["'\r1", "多行\n备注", "", "", "", ""]);
    }

    #[test]
    fn every_formula_start_is_guarded_also_after_blanks() {
        let starts = ["=", "+", "-", "@", "\t", "\r", "|", "＝", "＋", "－", "＠"];
        assert_eq!(starts.len(), FORMULA_STARTS.len());
        for start in starts {
            for blanks in ["", " ", "   ", "\u{3000}", " \u{3000} "] {
                let text = format!("{blanks}{start}1+1");
                assert_eq!(csv_text(&text), format!("'{text}"), "{text:?}");
            }
        }
        assert_eq!(csv_text("|calc"), "'|calc");
        for plain in ["张三", "1+1", " 张=三", "", "   ", "'=1", "a|b", "\n=1"] {
            assert_eq!(csv_text(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn an_overlong_text_field_is_cut_with_its_guard() {
        let t = test_table(
            "长",
            &["户主", "备注"],
            vec![vec![
                Cell::Text("名".repeat(40_000)),
                Cell::Text(format!("={}", "1".repeat(40_000))),
            ]],
        );
        let rows = read(&t.to_csv());
        let [name, formula] = [&rows[1][0], &rows[1][1]];
        assert!(
            name.ends_with("…(已截断,原长 40000 字)"),
            "{}",
            &name[name.len() - 40..]
        );
        assert!(name.starts_with("名名名"));
        assert!(formula.starts_with("'=111"));
        assert!(formula.ends_with("…(已截断,原长 40001 字)"));
        for cell in [name, formula] {
            assert_eq!(cell.encode_utf16().count(), MAX_CELL_UNITS);
        }
    }

    #[test]
    fn csv_uses_crlf_and_empty_table_is_just_the_bom() {
        let t = test_table("空", &["a", "b"], vec![vec![Cell::Int(1), Cell::Int(2)]]);
        assert_eq!(t.to_csv(), b"\xEF\xBB\xBFa,b\r\n1,2\r\n");
        assert_eq!(Table::default().to_csv(), BOM);
    }
}
