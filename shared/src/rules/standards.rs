//! The income standards: a versioned table of (year, level, region, kind) → amount, each entry
//! naming its source.
//!
//! Standards change every year and differ by province, so they are data, never constants in
//! code. The built-in table (`shared/data/standards.json`) holds only the entries whose source we
//! can cite; the server holds the county's table (`zoufang-server standards import`) and devices
//! receive it at sync ([`Standards::from_json`]).
//!
//! A year with no entry of its own is judged by the latest earlier line of the same kind and
//! says so ([`Standards::resolve`] → [`Applied::notice`], "沿用 2020 年标准"), and a 省定/市定
//! household whose region has no line at all is judged by the national line, again with a
//! notice. A gap in the table is the county's to fill, never a failure of the household: only a
//! year before every line (or a 省定 household with no province recorded) has no verdict.
//!
//! File format: a JSON array of entries
//! `{"year": 2020, "level": "national", "region": null, "kind": "poverty_line",
//! "amount_yuan": 4000, "source": "…"}` where `level` is `national`/`provincial`/`municipal`
//! (or 国家/省定/市定), `region` is the province (省定) or city (市定) exactly as households record
//! it and absent for national entries, `kind` is `poverty_line` or `monitoring_line`, and
//! `amount_yuan` is whole yuan per person per year.

use crate::codes::{CodeList, StandardLevel};
use crate::money::Fen;
use serde::{Deserialize, Serialize};

crate::codes::code_list!(
    /// What a standard is a line for: 贫困线/脱贫标准 (identification and exit) or the
    /// 防止返贫监测范围 (after 2021, set per province).
    StandardKind, "标准类型" {
        PovertyLine = "poverty_line", "贫困线/脱贫标准";
        MonitoringLine = "monitoring_line", "监测范围";
    }
);

/// One entry of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standard {
    pub year: i32,
    pub level: StandardLevel,
    /// Province (省定) or city (市定); `None` for a national standard.
    pub region: Option<String>,
    pub kind: StandardKind,
    /// Per person per year.
    pub amount: Fen,
    /// Where the figure comes from.
    pub source: String,
}

/// "2020 年国家贫困线/脱贫标准", "2025 年云南省省定监测范围".
fn describe(year: i32, level: StandardLevel, region: Option<&str>, kind: StandardKind) -> String {
    format!(
        "{year} 年{}{}{}",
        region.unwrap_or(""),
        level.label(),
        kind.label()
    )
}

impl Standard {
    /// The entry's name in messages, e.g. "2020 年国家贫困线/脱贫标准".
    pub fn describe(&self) -> String {
        describe(self.year, self.level, self.region.as_deref(), self.kind)
    }

    /// Name, amount and source, as a verdict cites its line:
    /// "2020 年国家贫困线/脱贫标准 4000 元(来源:…)".
    pub fn citation(&self) -> String {
        format!(
            "{} {} 元(来源:{})",
            self.describe(),
            self.amount,
            self.source
        )
    }
}

/// The line a verdict for `year` applies: the table's own entry for that year, or the one
/// [`Standards::resolve`] fell back to, with a notice saying so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub standard: Standard,
    /// Set when the table had no entry of its own for what was asked: a notice to the county
    /// ("…沿用 2020 年标准"), not a failure of the household.
    pub notice: Option<String>,
}

/// A table that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardsError {
    #[error("标准表无法解析(第 {line} 行第 {column} 列):{detail}")]
    Json {
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("标准表第 {index} 条与前面的条目重复:{what}")]
    Duplicate { index: usize, what: String },
    #[error("标准表第 {index} 条({what})金额不能为负数:{amount_yuan} 元")]
    Negative {
        index: usize,
        what: String,
        amount_yuan: i64,
    },
    #[error("标准表第 {index} 条({what})金额过大:{amount_yuan} 元")]
    TooLarge {
        index: usize,
        what: String,
        amount_yuan: i64,
    },
    #[error("标准表第 {index} 条({what})缺少来源说明")]
    MissingSource { index: usize, what: String },
    #[error("标准表第 {index} 条({what}):省定、市定标准必须填写地区,国家标准不能填写地区")]
    Region { index: usize, what: String },
}

/// No standard for what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingStandard {
    #[error("标准表中没有 {0},请县扶贫办在标准表中补充")]
    NotInTable(String),
    #[error("识别标准为{level},但户未登记所在{what},无法确定适用标准")]
    NoRegion {
        level: StandardLevel,
        /// 省份 or 市.
        what: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    year: i32,
    level: StandardLevel,
    #[serde(default)]
    region: Option<String>,
    kind: StandardKind,
    amount_yuan: i64,
    source: String,
}

/// The validated table: no duplicates, no negative amounts, every entry sourced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Standards(Vec<Standard>);

const BUILTIN: &str = include_str!("../../data/standards.json");

impl Standards {
    pub fn from_json(text: &str) -> Result<Standards, StandardsError> {
        let raw: Vec<RawEntry> = serde_json::from_str(text).map_err(|e| StandardsError::Json {
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        })?;
        let mut out: Vec<Standard> = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            // Counted from 1, as a person editing the file counts.
            let index = i + 1;
            let region = r
                .region
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            let what = describe(r.year, r.level, region.as_deref(), r.kind);
            if region.is_some() != (r.level != StandardLevel::National) {
                return Err(StandardsError::Region { index, what });
            }
            if r.amount_yuan < 0 {
                return Err(StandardsError::Negative {
                    index,
                    what,
                    amount_yuan: r.amount_yuan,
                });
            }
            let Some(amount) = r.amount_yuan.checked_mul(100).map(Fen) else {
                return Err(StandardsError::TooLarge {
                    index,
                    what,
                    amount_yuan: r.amount_yuan,
                });
            };
            let source = r.source.trim().to_owned();
            if source.is_empty() {
                return Err(StandardsError::MissingSource { index, what });
            }
            if out.iter().any(|s| {
                (s.year, s.level, s.region.as_deref(), s.kind)
                    == (r.year, r.level, region.as_deref(), r.kind)
            }) {
                return Err(StandardsError::Duplicate { index, what });
            }
            out.push(Standard {
                year: r.year,
                level: r.level,
                region,
                kind: r.kind,
                amount,
                source,
            });
        }
        Ok(Standards(out))
    }

    /// The table shipped with Zoufang. It is checked by a test, so an error here means the data
    /// file was edited without running the tests.
    pub fn builtin() -> Result<Standards, StandardsError> {
        Standards::from_json(BUILTIN)
    }

    /// The shipped table's JSON text, for tools that extend it (a county adds its own lines).
    pub fn builtin_json() -> &'static str {
        BUILTIN
    }

    /// What identifies a table's text between server and device: SHA-256 of the JSON, hex. A
    /// device sends the digest of the table it holds and gets a new one only when it differs.
    pub fn digest(json: &str) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(json.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn entries(&self) -> &[Standard] {
        &self.0
    }

    /// The entry for exactly this year, level and kind. `region` is the household's province for
    /// 省定 and its city for 市定, compared exactly (after trimming): "吉林省" and "吉林市" are both
    /// real, so no suffix is guessed. It is ignored for national standards.
    pub fn lookup(
        &self,
        year: i32,
        level: StandardLevel,
        region: Option<&str>,
        kind: StandardKind,
    ) -> Option<&Standard> {
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        if level != StandardLevel::National && region.is_none() {
            return None;
        }
        self.series(level, region, kind).find(|s| s.year == year)
    }

    /// The entries of one series: a level, its region (ignored for national standards) and a
    /// kind.
    fn series<'t>(
        &'t self,
        level: StandardLevel,
        region: Option<&str>,
        kind: StandardKind,
    ) -> impl Iterator<Item = &'t Standard> {
        self.0.iter().filter(move |s| {
            s.level == level
                && s.kind == kind
                && (level == StandardLevel::National || s.region.as_deref() == region)
        })
    }

    /// [`Standards::lookup`], saying what is missing when nothing matches.
    pub fn require(
        &self,
        year: i32,
        level: StandardLevel,
        region: Option<&str>,
        kind: StandardKind,
    ) -> Result<&Standard, MissingStandard> {
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        if region.is_none() {
            match level {
                StandardLevel::National => {}
                StandardLevel::Provincial => {
                    return Err(MissingStandard::NoRegion {
                        level,
                        what: "省份",
                    });
                }
                StandardLevel::Municipal => {
                    return Err(MissingStandard::NoRegion { level, what: "市" });
                }
            }
        }
        self.lookup(year, level, region, kind).ok_or_else(|| {
            let region = region.filter(|_| level != StandardLevel::National);
            MissingStandard::NotInTable(describe(year, level, region, kind))
        })
    }

    /// The line that applies to a verdict for `year` (see the module comment): the year's own
    /// entry; else the latest earlier entry of the same series; else, for 省定/市定, the
    /// national line found the same way. Each fallback carries a notice naming what the table
    /// lacks and what was used instead. Fails only when no line of the kind exists up to
    /// `year`, or the household's 省定/市定 region is not recorded.
    pub fn resolve(
        &self,
        year: i32,
        level: StandardLevel,
        region: Option<&str>,
        kind: StandardKind,
    ) -> Result<Applied, MissingStandard> {
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        // No region where one is needed is the household's gap, not the table's.
        if level != StandardLevel::National && region.is_none() {
            return self.require(year, level, region, kind).map(|s| Applied {
                standard: s.clone(),
                notice: None,
            });
        }
        // Named only when something is missing: most verdicts find their own year.
        let wanted = || {
            describe(
                year,
                level,
                region.filter(|_| level != StandardLevel::National),
                kind,
            )
        };
        if let Some(s) = latest_until(year, self.series(level, region, kind)) {
            return Ok(Applied {
                notice: (s.year != year).then(|| {
                    format!(
                        "标准表中没有 {},沿用 {} 年标准({} 元),请县扶贫办核实",
                        wanted(),
                        s.year,
                        s.amount
                    )
                }),
                standard: s.clone(),
            });
        }
        if level != StandardLevel::National
            && let Some(s) = latest_until(year, self.series(StandardLevel::National, None, kind))
        {
            return Ok(Applied {
                notice: Some(format!(
                    "标准表中没有 {},按 {}({} 元)评估,请县扶贫办核实",
                    wanted(),
                    s.describe(),
                    s.amount
                )),
                standard: s.clone(),
            });
        }
        Err(MissingStandard::NotInTable(wanted()))
    }
}

/// The latest entry of a series in or before `year`.
fn latest_until<'t>(year: i32, series: impl Iterator<Item = &'t Standard>) -> Option<&'t Standard> {
    series.filter(|s| s.year <= year).max_by_key(|s| s.year)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Standards {
        Standards::builtin().expect("builtin table must be valid")
    }

    /// The national poverty line entered for `year`.
    fn national_line(t: &Standards, year: i32) -> Option<&Standard> {
        t.lookup(
            year,
            StandardLevel::National,
            None,
            StandardKind::PovertyLine,
        )
    }

    #[test]
    fn builtin_table_loads_and_has_the_cited_entries() {
        let t = builtin();
        let line = |y| national_line(&t, y).map(|s| s.amount);
        // Every year of the 2011–2020 national line, at that year's prices.
        let national: Vec<_> = (2010..=2020).map(line).collect();
        let expected = [
            2300, 2536, 2625, 2736, 2800, 2855, 2952, 2952, 2995, 3218, 4000,
        ]
        .map(|y| Some(Fen::from_yuan(y)));
        assert_eq!(national, expected);
        assert_eq!(line(2009), None);
        assert_eq!(
            line(2021),
            None,
            "after 2020 the 2020 line is carried on, not entered"
        );
        let yunnan = t
            .lookup(
                2025,
                StandardLevel::Provincial,
                Some("云南省"),
                StandardKind::MonitoringLine,
            )
            .expect("Yunnan 2025");
        assert_eq!(yunnan.amount, Fen::from_yuan(8700));
        assert!(t.entries().iter().all(|s| !s.source.is_empty()));
    }

    #[test]
    fn regional_lookup_needs_the_exact_region() {
        let t = builtin();
        let k = StandardKind::MonitoringLine;
        let p = StandardLevel::Provincial;
        assert!(t.lookup(2025, p, Some(" 云南省 "), k).is_some());
        assert!(t.lookup(2025, p, Some("贵州省"), k).is_none());
        assert!(t.lookup(2025, p, None, k).is_none());
        assert!(t.lookup(2025, StandardLevel::National, None, k).is_none());
        assert_eq!(
            t.require(2025, p, None, k)
                .expect_err("no region")
                .to_string(),
            "识别标准为省定,但户未登记所在省份,无法确定适用标准"
        );
    }

    #[test]
    fn missing_year_is_named() {
        let t = builtin();
        let err = t
            .require(
                2023,
                StandardLevel::National,
                Some("云南省"),
                StandardKind::PovertyLine,
            )
            .expect_err("no 2023 entry");
        assert_eq!(
            err.to_string(),
            "标准表中没有 2023 年国家贫困线/脱贫标准,请县扶贫办在标准表中补充"
        );
    }

    fn applied(
        t: &Standards,
        year: i32,
        level: StandardLevel,
        region: Option<&str>,
        kind: StandardKind,
    ) -> (i32, i64, Option<String>) {
        let a = t
            .resolve(year, level, region, kind)
            .expect("a line applies");
        (a.standard.year, a.standard.amount.0 / 100, a.notice)
    }

    #[test]
    fn a_year_without_a_line_carries_the_latest_earlier_one_with_a_notice() {
        let t = builtin();
        let (n, p) = (StandardLevel::National, StandardKind::PovertyLine);
        assert_eq!(applied(&t, 2017, n, None, p), (2017, 2952, None));
        assert_eq!(
            applied(&t, 2023, n, Some("云南省"), p),
            (
                2020,
                4000,
                Some(
                    "标准表中没有 2023 年国家贫困线/脱贫标准,沿用 2020 年标准(4000.00 元),请县扶贫办核实"
                        .to_owned()
                )
            )
        );
        let before_every_line = t
            .resolve(2009, n, None, p)
            .expect_err("no line before 2010");
        assert_eq!(
            before_every_line.to_string(),
            "标准表中没有 2009 年国家贫困线/脱贫标准,请县扶贫办在标准表中补充"
        );
    }

    #[test]
    fn a_region_without_lines_is_judged_by_the_national_line_with_a_notice() {
        let t = builtin();
        let (prov, p, m) = (
            StandardLevel::Provincial,
            StandardKind::PovertyLine,
            StandardKind::MonitoringLine,
        );
        assert_eq!(
            applied(&t, 2018, prov, Some("四川省"), p),
            (
                2018,
                2995,
                Some(
                    "标准表中没有 2018 年四川省省定贫困线/脱贫标准,按 2018 年国家贫困线/脱贫标准(2995.00 元)评估,请县扶贫办核实"
                        .to_owned()
                )
            )
        );
        // Yunnan's 2025 monitoring line is carried on into 2026; before it there is none.
        assert_eq!(applied(&t, 2026, prov, Some("云南省"), m).0, 2025);
        assert!(t.resolve(2024, prov, Some("云南省"), m).is_err());
        // A 省定 household with no province recorded is the household's gap, named as such.
        assert!(matches!(
            t.resolve(2018, prov, None, p),
            Err(MissingStandard::NoRegion { .. })
        ));
    }

    #[test]
    fn a_citation_names_year_line_amount_and_source() {
        let t = builtin();
        let s = national_line(&t, 2014).expect("2014");
        let c = s.citation();
        assert!(
            c.starts_with("2014 年国家贫困线/脱贫标准 2800.00 元(来源:云南调查年鉴 2017"),
            "{c}"
        );
    }

    #[test]
    fn refuses_duplicates() {
        let json = r#"[
            {"year": 2020, "level": "national", "kind": "poverty_line", "amount_yuan": 4000, "source": "a"},
            {"year": 2020, "level": "国家", "kind": "poverty_line", "amount_yuan": 4100, "source": "b"}
        ]"#;
        let err = Standards::from_json(json).expect_err("duplicate");
        assert!(
            matches!(err, StandardsError::Duplicate { index: 2, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "标准表第 2 条与前面的条目重复:2020 年国家贫困线/脱贫标准"
        );
    }

    #[test]
    fn same_year_different_region_or_kind_is_not_a_duplicate() {
        let json = r#"[
            {"year": 2025, "level": "provincial", "region": "云南省", "kind": "monitoring_line", "amount_yuan": 8700, "source": "a"},
            {"year": 2025, "level": "provincial", "region": "贵州省", "kind": "monitoring_line", "amount_yuan": 1, "source": "b"},
            {"year": 2025, "level": "provincial", "region": "云南省", "kind": "poverty_line", "amount_yuan": 1, "source": "c"}
        ]"#;
        assert_eq!(
            Standards::from_json(json).expect("valid").entries().len(),
            3
        );
    }

    #[test]
    fn refuses_unknown_fields_and_bad_entries() {
        let unknown = r#"[{"year": 2020, "level": "national", "kind": "poverty_line",
            "amount_yuan": 4000, "source": "a", "amount": 400000}]"#;
        let err = Standards::from_json(unknown).expect_err("unknown field");
        assert!(matches!(err, StandardsError::Json { .. }), "{err}");
        assert!(err.to_string().contains("amount"), "{err}");

        let huge = format!(
            r#"[{{"year": 2020, "level": "national", "kind": "poverty_line", "amount_yuan": {}, "source": "a"}}]"#,
            i64::MAX
        );
        type Expect = fn(&StandardsError) -> bool;
        let cases: [(&str, &str, Expect); 6] = [
            (
                "negative",
                r#"[{"year": 2020, "level": "national", "kind": "poverty_line",
            "amount_yuan": -1, "source": "a"}]"#,
                |e| matches!(e, StandardsError::Negative { index: 1, .. }),
            ),
            ("huge", &huge, |e| {
                matches!(e, StandardsError::TooLarge { .. })
            }),
            (
                "unsourced",
                r#"[{"year": 2020, "level": "national", "kind": "poverty_line",
            "amount_yuan": 4000, "source": "  "}]"#,
                |e| matches!(e, StandardsError::MissingSource { .. }),
            ),
            (
                "no region",
                r#"[{"year": 2025, "level": "provincial", "kind": "monitoring_line",
            "amount_yuan": 8700, "source": "a"}]"#,
                |e| matches!(e, StandardsError::Region { .. }),
            ),
            (
                "national with region",
                r#"[{"year": 2020, "level": "national", "region": "云南省",
            "kind": "poverty_line", "amount_yuan": 4000, "source": "a"}]"#,
                |e| matches!(e, StandardsError::Region { .. }),
            ),
            (
                "fractional",
                r#"[{"year": 2020, "level": "national", "kind": "poverty_line",
            "amount_yuan": 4000.5, "source": "a"}]"#,
                |e| matches!(e, StandardsError::Json { .. }),
            ),
        ];
        for (what, json, expected) in cases {
            let err = Standards::from_json(json).expect_err(what);
            assert!(expected(&err), "{what}: {err}");
        }
    }
}
