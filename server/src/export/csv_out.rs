//! CSV: UTF-8 with a byte-order mark, CRLF line ends (RFC 4180), quoting only where needed.
//!
//! The BOM is what makes Excel on a Chinese Windows read the file as UTF-8 rather than GBK.

use std::borrow::Cow;

use super::{Cell, Table, fen_to_yuan};

/// The UTF-8 byte-order mark.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Table {
    /// The table as CSV: BOM, header line, one line per row. Rows are padded with empty fields
    /// to the table's width, so every line has the same number of fields.
    ///
    /// Text that a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, tab
    /// or carriage return) gets a leading `'` (OWASP's advice against CSV injection); numbers
    /// are written as plain numbers, money as yuan (`123.45`), ratios as `12.50%`.
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
            let header = padded(self.headers.iter().map(|h| escape_formula(h)), width);
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
        Cell::Text(s) => escape_formula(s),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Fen(f) => Cow::Owned(fen_to_yuan(*f)),
        Cell::Percent(p) if p.is_finite() => Cow::Owned(format!("{:.2}%", p * 100.0)),
        Cell::Percent(_) | Cell::Empty => Cow::Borrowed(""),
    }
}

/// Prefix `'` to text a spreadsheet would evaluate as a formula (OWASP CSV injection advice).
fn escape_formula(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            title: "脱贫户名单".into(),
            headers: vec![
                "户主".into(),
                "身份证号".into(),
                "人数".into(),
                "收入".into(),
                "占比".into(),
                "备注".into(),
            ],
            rows: vec![
                vec![
                    Cell::Text("张三".into()),
                    Cell::Text("110101199003074514".into()),
                    Cell::Int(4),
                    Cell::Fen(12345),
                    Cell::Percent(0.125),
                    Cell::Text("=HYPERLINK(\"http://x\")".into()),
                ],
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
        }
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
    fn csv_uses_crlf_and_empty_table_is_just_the_bom() {
        let t = Table {
            title: "空".into(),
            headers: vec!["a".into(), "b".into()],
            rows: vec![vec![Cell::Int(1), Cell::Int(2)]],
        };
        assert_eq!(t.to_csv(), b"\xEF\xBB\xBFa,b\r\n1,2\r\n");
        assert_eq!(Table::default().to_csv(), BOM);
    }
}
