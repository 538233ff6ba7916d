//! The one table the bench prints: figures, the target beside each that has one, and how the
//! figure stands against it. Targets are informational: missing one never fails the run.

use std::fmt::Write as _;

#[derive(Debug, Clone)]
enum Line {
    Section(String),
    Row {
        what: String,
        figure: String,
        target: String,
        against: String,
    },
}

#[derive(Debug, Default)]
pub struct Table {
    lines: Vec<Line>,
}

/// How a figure compares with its target.
#[derive(Debug, Clone)]
pub struct Target {
    pub text: String,
    pub against: String,
}

impl Target {
    /// At most `limit` (time, size, count): met when the figure is no larger.
    pub fn at_most(figure: f64, limit: f64, text: impl Into<String>) -> Target {
        let against = if figure <= limit {
            if figure > 0.0 {
                format!("ok, {} under", times(limit / figure))
            } else {
                "ok".into()
            }
        } else {
            format!("MISSED, {} over", times(figure / limit))
        };
        Target {
            text: text.into(),
            against,
        }
    }

    /// At least `limit`: met when the figure is no smaller.
    pub fn at_least(figure: f64, limit: f64, text: impl Into<String>) -> Target {
        let against = if figure >= limit {
            format!("ok, {} of it", times(figure / limit))
        } else {
            format!(
                "MISSED, {} short",
                times(limit / figure.max(f64::MIN_POSITIVE))
            )
        };
        Target {
            text: text.into(),
            against,
        }
    }

    /// `ours` at least `factor` times fewer than `theirs`.
    pub fn fewer(ours: f64, theirs: f64, factor: f64, text: impl Into<String>) -> Target {
        let ratio = theirs / ours.max(f64::MIN_POSITIVE);
        let against = if ratio >= factor {
            format!("ok, {} fewer", times(ratio))
        } else {
            format!("MISSED, {} fewer", times(ratio))
        };
        Target {
            text: text.into(),
            against,
        }
    }
}

fn times(x: f64) -> String {
    format!("{}x", about(x))
}

/// `x` to about three significant figures: `123`, `12.3`, `1.23`.
fn about(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

impl Table {
    pub fn section(&mut self, title: impl Into<String>) {
        self.lines.push(Line::Section(title.into()));
    }

    pub fn row(&mut self, what: impl Into<String>, figure: impl Into<String>) {
        self.lines.push(Line::Row {
            what: what.into(),
            figure: figure.into(),
            target: String::new(),
            against: String::new(),
        });
    }

    pub fn target(&mut self, what: impl Into<String>, figure: impl Into<String>, t: Target) {
        self.lines.push(Line::Row {
            what: what.into(),
            figure: figure.into(),
            target: t.text,
            against: t.against,
        });
    }

    /// A row whose figure could not be had, and why.
    pub fn na(&mut self, what: impl Into<String>, reason: impl AsRef<str>) {
        self.row(what, format!("n/a ({})", reason.as_ref()));
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let (mut w0, mut w1, mut w2) = (
            width("workload / measure"),
            width("figure"),
            width("target"),
        );
        for l in &self.lines {
            if let Line::Row {
                what,
                figure,
                target,
                ..
            } = l
            {
                w0 = w0.max(width(what) + 2);
                w1 = w1.max(width(figure));
                w2 = w2.max(width(target));
            }
        }
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(width(s))));
        let mut out = String::new();
        let header = format!(
            "{} | {} | {} | vs target",
            pad("workload / measure", w0),
            pad("figure", w1),
            pad("target", w2)
        );
        let rule = "-".repeat(width(&header).max(w0 + w1 + w2 + 20));
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{rule}");
        for l in &self.lines {
            match l {
                Line::Section(title) => {
                    let _ = writeln!(out, "{title}");
                }
                Line::Row {
                    what,
                    figure,
                    target,
                    against,
                } => {
                    let line = format!(
                        "{} | {} | {} | {against}",
                        pad(&format!("  {what}"), w0),
                        pad(figure, w1),
                        pad(target, w2)
                    );
                    let _ = writeln!(out, "{}", line.trim_end());
                }
            }
        }
        let _ = write!(out, "{rule}");
        out
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 round trip`, `3 round trips`.
pub fn trips(n: u64) -> String {
    if n == 1 {
        "1 round trip".into()
    } else {
        format!("{n} round trips")
    }
}

/// Bytes as `12.3 kB` / `4.56 MB` (decimal units, as link rates are).
pub fn bytes(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.2} GB", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} kB", x / 1e3)
    } else {
        format!("{n} B")
    }
}

pub fn secs(s: f64) -> String {
    format!("{} s", about(s))
}

pub fn ms(s: f64) -> String {
    format!("{} ms", about(s * 1e3))
}

/// The `p`-th percentile (0–100) of `sorted`, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 99.0), 4.0);
        assert!(
            Target::at_most(20.0, 30.0, "< 30 s")
                .against
                .starts_with("ok")
        );
        assert!(
            Target::fewer(1.0, 5.0, 10.0, "")
                .against
                .starts_with("MISSED")
        );
    }
}
