//! Exported spreadsheets read back as text, as a person would see their cells.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// The first sheet of an XLSX file, row by row, every cell as text (empty cells as "").
/// `who` names the export in a failure.
pub fn xlsx_rows(bytes: Vec<u8>, who: &str) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("{who}: calamine opens the export: {e}"));
    let range = wb
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("a readable sheet");
    range
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect()
}

fn cell_text(c: &Data) -> String {
    match c {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}
