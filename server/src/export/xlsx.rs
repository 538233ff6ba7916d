//! XLSX: one worksheet named after the table, bold frozen header row, columns sized to their
//! contents, numbers as numbers and text as text.

use rust_xlsxwriter::{ColNum, Format, IgnoreError, RowNum, Workbook, Worksheet};
use unicode_width::UnicodeWidthStr;

use super::{Cell, ExportError, MAX_CELL_UNITS, Table, fen_to_yuan, fit_cell, sanitize_sheet_name};

/// Excel's worksheet limits.
const MAX_ROWS: usize = 1_048_576;
const MAX_COLUMNS: usize = 16_384;
/// Column widths, in Excel's units (about one Latin digit; a CJK character counts as 2).
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 60;
/// Room for the cell margins and the header's bold face.
const WIDTH_PADDING: usize = 2;

impl Table {
    /// The table as an XLSX workbook with one worksheet.
    ///
    /// The sheet is named by [`sanitize_sheet_name`] of the title. The header row is bold and
    /// frozen. `Int` is a number, `Fen` a number in yuan formatted `0.00`, `Percent` a number
    /// formatted `0.00%`; `Text` is always written as a string, so an 18-digit ID number is
    /// neither rounded nor shown in scientific notation (and Excel's "number stored as text"
    /// warning is switched off for the data cells). Text longer than a cell holds is cut
    /// ([`fit_cell`]).
    pub fn to_xlsx(&self) -> Result<Vec<u8>, ExportError> {
        let width = self.width();
        let too_large = || ExportError::TooLarge {
            rows: self.rows.len(),
            columns: width,
        };
        if self.rows.len() >= MAX_ROWS || width > MAX_COLUMNS {
            return Err(too_large());
        }

        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name(sanitize_sheet_name(&self.title))?;

        let bold = Format::new().set_bold();
        let money = Format::new().set_num_format("0.00");
        let percent = Format::new().set_num_format("0.00%");

        for (c, header) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, col(c)?, fit_cell(header, MAX_CELL_UNITS), &bold)?;
        }
        sheet.set_freeze_panes(1, 0)?;

        for (r, row) in self.rows.iter().enumerate() {
            let r = RowNum::try_from(r + 1).map_err(|_| too_large())?;
            for (c, cell) in row.iter().enumerate() {
                write_cell(sheet, r, col(c)?, cell, &money, &percent)?;
            }
        }

        if width > 0 {
            if !self.rows.is_empty() {
                let last_row = RowNum::try_from(self.rows.len()).map_err(|_| too_large())?;
                sheet.ignore_error_range(
                    1,
                    0,
                    last_row,
                    col(width - 1)?,
                    IgnoreError::NumberStoredAsText,
                )?;
            }
            for (c, w) in self.column_widths().into_iter().enumerate() {
                // `w` is at most MAX_WIDTH, so the conversion is exact.
                sheet.set_column_width(col(c)?, w as f64)?;
            }
        }

        Ok(workbook.save_to_buffer()?)
    }

    /// Display width of each column: its widest header or cell, padded and clamped.
    fn column_widths(&self) -> Vec<usize> {
        let mut widths = vec![0; self.width()];
        for (c, h) in self.headers.iter().enumerate() {
            widths[c] = widths[c].max(text_width(h));
        }
        for row in &self.rows {
            for (c, cell) in row.iter().enumerate() {
                widths[c] = widths[c].max(cell_width(cell));
            }
        }
        widths
            .into_iter()
            .map(|w| (w + WIDTH_PADDING).clamp(MIN_WIDTH, MAX_WIDTH))
            .collect()
    }
}

fn col(c: usize) -> Result<ColNum, ExportError> {
    ColNum::try_from(c).map_err(|_| ExportError::TooLarge {
        rows: 0,
        columns: c + 1,
    })
}

fn write_cell(
    sheet: &mut Worksheet,
    r: RowNum,
    c: ColNum,
    cell: &Cell,
    money: &Format,
    percent: &Format,
) -> Result<(), ExportError> {
    match cell {
        // Always as a string: never let a digit string become a (rounded) number.
        Cell::Text(s) => {
            sheet.write_string(r, c, fit_cell(s, MAX_CELL_UNITS))?;
        }
        // Excel numbers are doubles: exact up to 2^53, which covers any count.
        Cell::Int(n) => {
            sheet.write_number(r, c, *n as f64)?;
        }
        // Yuan = fen / 100; exact to the fen for any amount below 2^53 fen.
        Cell::Fen(f) => {
            sheet.write_number_with_format(r, c, *f as f64 / 100.0, money)?;
        }
        Cell::Percent(p) if p.is_finite() => {
            sheet.write_number_with_format(r, c, *p, percent)?;
        }
        Cell::Percent(_) | Cell::Empty => {}
    }
    Ok(())
}

/// Width of text as Excel roughly shows it: CJK (East Asian wide) characters count 2, others 1;
/// for multi-line text, the widest line.
fn text_width(s: &str) -> usize {
    s.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

fn cell_width(cell: &Cell) -> usize {
    match cell {
        Cell::Text(s) => text_width(s),
        Cell::Int(n) => n.to_string().len(),
        Cell::Fen(f) => fen_to_yuan(*f).len(),
        Cell::Percent(p) if p.is_finite() => format!("{:.2}%", p * 100.0).len(),
        Cell::Percent(_) | Cell::Empty => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx};

    use super::*;
    use crate::export::{sample_row, test_table};

    fn sample() -> Table {
        test_table(
            "2024年[监测户]名单: 城关镇/东村*?",
            &[
                "户主姓名",
                "身份证号",
                "家庭人口",
                "人均纯收入（元）",
                "占比",
            ],
            vec![
                sample_row(),
                vec![
                    Cell::Text("=1+1".into()),
                    Cell::Text("11010119900307451X".into()),
                    Cell::Empty,
                    Cell::Fen(-5),
                ],
            ],
        )
    }

    fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("calamine opens the xlsx")
    }

    #[test]
    fn xlsx_reads_back_with_calamine() {
        let bytes = sample().to_xlsx().expect("export");
        assert!(bytes.starts_with(b"PK"), "an xlsx is a zip file");
        let mut wb = open(bytes);

        let name = "2024年_监测户_名单_ 城关镇_东村__";
        assert_eq!(wb.sheet_names(), [name]);
        let range = wb.worksheet_range(name).expect("sheet");
        assert_eq!(range.start(), Some((0, 0)));
        assert_eq!(range.end(), Some((2, 4)));

        let header: Vec<_> = range.rows().next().expect("header row").to_vec();
        assert_eq!(
            header,
            [
                "户主姓名",
                "身份证号",
                "家庭人口",
                "人均纯收入（元）",
                "占比"
            ]
            .map(|s| Data::String(s.into()))
        );
        assert_eq!(range.get_value((1, 0)), Some(&Data::String("张三".into())));
        // The 18-digit ID stays a string, every digit intact.
        assert_eq!(
            range.get_value((1, 1)),
            Some(&Data::String("110101199003074514".into()))
        );
        assert_eq!(range.get_value((1, 2)), Some(&Data::Float(4.0)));
        assert_eq!(range.get_value((1, 3)), Some(&Data::Float(123.45)));
        assert_eq!(range.get_value((1, 4)), Some(&Data::Float(0.125)));
        // Formula-looking text is plain text in xlsx (no escaping needed, none applied).
        assert_eq!(range.get_value((2, 0)), Some(&Data::String("=1+1".into())));
        assert_eq!(range.get_value((2, 2)), Some(&Data::Empty));
        assert_eq!(range.get_value((2, 3)), Some(&Data::Float(-0.05)));
    }

    #[test]
    fn xlsx_styles_bold_header_and_number_formats() {
        let mut wb = open(sample().to_xlsx().expect("export"));
        let name = wb.sheet_names()[0].clone();
        let styles = wb.worksheet_style(&name).expect("styles");
        let style = |pos| styles.get(pos).cloned().unwrap_or_default();

        for c in 0..5 {
            let font = style((0, c)).font.expect("header font");
            assert!(font.is_bold(), "header column {c} is bold");
        }
        assert!(!style((1, 0)).font.is_some_and(|f| f.is_bold()));
        let num_format = |pos| style(pos).number_format.map(|f| f.format_code);
        assert_eq!(num_format((1, 3)).as_deref(), Some("0.00"));
        assert_eq!(num_format((1, 4)).as_deref(), Some("0.00%"));
    }

    #[test]
    fn column_widths_count_cjk_double() {
        let t = test_table(
            "t",
            &["ab", "户主姓名", "x"],
            vec![vec![
                Cell::Empty,
                Cell::Text("甲".into()),
                Cell::Text("a".repeat(200)),
            ]],
        );
        assert_eq!(t.column_widths(), [6, 10, 60]);
    }

    #[test]
    fn empty_and_ragged_tables_export() {
        let bytes = Table::default().to_xlsx().expect("empty table");
        let wb = open(bytes);
        assert_eq!(wb.sheet_names(), ["Sheet1"]);

        let ragged = test_table(
            "History",
            &["a"],
            vec![vec![Cell::Int(1), Cell::Int(2), Cell::Int(3)]],
        );
        let mut wb = open(ragged.to_xlsx().expect("ragged table"));
        assert_eq!(wb.sheet_names(), ["History_"]);
        let range = wb.worksheet_range("History_").expect("sheet");
        assert_eq!(range.get_value((1, 2)), Some(&Data::Float(3.0)));
    }

    #[test]
    fn overlong_text_exports_cut_with_a_marker() {
        let t = test_table(
            "t",
            &["户主姓名", "备注"],
            vec![vec![
                Cell::Text("长".repeat(40_000)),
                Cell::Text("𠀀".repeat(20_000)),
            ]],
        );
        let mut wb = open(t.to_xlsx().expect("exports"));
        let range = wb.worksheet_range("t").expect("sheet");
        for (c, chars) in [(0, 40_000), (1, 20_000)] {
            let Some(Data::String(cell)) = range.get_value((1, c)) else {
                panic!("a string in column {c}");
            };
            assert!(
                cell.ends_with(&format!("…(已截断,原长 {chars} 字)")),
                "column {c}"
            );
            assert!(cell.encode_utf16().count() <= MAX_CELL_UNITS);
        }
    }

    #[test]
    fn control_characters_export_readable() {
        let t = test_table(
            "t",
            &["a"],
            vec![vec![Cell::Text("张\0三\u{1}\u{7f}".into())]],
        );
        let mut wb = open(t.to_xlsx().expect("exports"));
        let range = wb.worksheet_range("t").expect("sheet");
        assert!(matches!(range.get_value((1, 0)), Some(Data::String(s)) if s.starts_with('张')));
    }
}
