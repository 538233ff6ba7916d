//! Writing to stdout without `println!`, which panics when the reader has gone away (`| head`).

use std::fmt::Display;
use std::io::{self, Write};

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use super::Failure;

/// Text built up whole, then written at once.
#[derive(Default)]
pub struct Text(String);

impl Text {
    pub fn line(&mut self, s: impl Display) {
        self.0.push_str(&s.to_string());
        self.0.push('\n');
    }

    pub fn emit(self) -> Result<(), Failure> {
        write_out(|out| out.write_all(self.0.as_bytes()))
    }
}

pub fn emit_json<T: Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    write_out(|out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        out.write_all(b"\n")
    })
}

/// Runs `f` on a buffered stdout. A closed pipe ends the output quietly: the reader has all it
/// wanted.
pub fn write_out(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::error(format!("无法输出结果:{e}"))),
    }
}

/// Lines of columns padded to their widest cell as a terminal shows it (a Chinese character
/// takes two cells), with no trailing newline.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let lines: Vec<String> = std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                line.push_str(cell);
                line.push_str(&" ".repeat(w.saturating_sub(cell.width()) + 2));
            }
            line.trim_end().to_owned()
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_chinese_text() {
        let t = table(
            &["户主", "村"],
            &[
                vec!["李大山".into(), "三合村".into()],
                vec!["Li".into(), "x".into()],
            ],
        );
        assert_eq!(t, "户主    村\n李大山  三合村\nLi      x");
    }
}
