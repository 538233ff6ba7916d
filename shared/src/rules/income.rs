//! 人均纯收入: the income figures the forms compute, never type.
//!
//! 纯收入 = 工资性 + 生产经营性 + 财产性 + 转移性收入 − 生产经营性支出; 人均 = 纯收入 ÷ 家庭人口数.
//! 理赔收入 and 合规自付支出 are recorded on the form but are not part of either figure.
//!
//! Everything is integer fen with checked arithmetic, so every device computes the same figure
//! and an absurd entry is an error instead of a wrapped-around number.

use crate::model::Income;
use crate::money::Fen;
use serde::Serialize;

/// Why income could not be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomeError {
    #[error("家庭人口数为 0,无法计算人均纯收入")]
    NoMembers,
    #[error("收入项目「{item}」不能为负数(填写为 {amount} 元)")]
    Negative { item: &'static str, amount: Fen },
    #[error("收入金额过大,超出可计算范围,请核实")]
    Overflow,
}

/// The computed figures of one year's income.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncomeSummary {
    /// 工资性收入.
    pub wage: Fen,
    /// 生产经营性收入: 种植 + 养殖 + 林果 + 其他.
    pub production: Fen,
    /// 财产性收入.
    pub property: Fen,
    /// 转移性收入: 计划生育金 + 低保金 + 特困供养金 + 养老保险金 + 生态补偿金 + 其他.
    pub transfer: Fen,
    /// 生产经营性支出.
    pub production_cost: Fen,
    /// 家庭纯收入; negative when costs exceed income (a bad harvest), which is a real outcome.
    pub net: Fen,
    /// 家庭人口数 used for the division.
    pub size: usize,
    /// 人均纯收入, truncated toward zero: a fraction of a fen never lifts anyone over a line, and
    /// a negative net gives a negative per-capita figure the same way (−10.005 → −10.00).
    pub per_capita: Fen,
}

fn sum(items: &[Fen]) -> Result<Fen, IncomeError> {
    items
        .iter()
        .try_fold(0i64, |acc, f| acc.checked_add(f.0))
        .map(Fen)
        .ok_or(IncomeError::Overflow)
}

fn check_not_negative(income: &Income) -> Result<(), IncomeError> {
    match income.items().into_iter().find(|(_, _, v)| v.is_negative()) {
        Some((_, item, amount)) => Err(IncomeError::Negative { item, amount }),
        None => Ok(()),
    }
}

struct Parts {
    wage: Fen,
    production: Fen,
    property: Fen,
    transfer: Fen,
    production_cost: Fen,
    net: Fen,
}

fn parts(i: &Income) -> Result<Parts, IncomeError> {
    check_not_negative(i)?;
    let production = sum(&[i.planting, i.breeding, i.forestry_fruit, i.business_other])?;
    let transfer = sum(&[
        i.family_planning,
        i.dibao,
        i.tekun,
        i.pension,
        i.eco_compensation,
        i.transfer_other,
    ])?;
    let gross = sum(&[i.wage, production, i.property, transfer])?;
    let net = gross
        .0
        .checked_sub(i.production_cost.0)
        .map(Fen)
        .ok_or(IncomeError::Overflow)?;
    Ok(Parts {
        wage: i.wage,
        production,
        property: i.property,
        transfer,
        production_cost: i.production_cost,
        net,
    })
}

/// 家庭纯收入 alone (no household size needed), e.g. to compare two years.
pub fn net_income(income: &Income) -> Result<Fen, IncomeError> {
    parts(income).map(|p| p.net)
}

/// Computes the household's figures for one year; `size` is 家庭人口数 (current members).
pub fn summarize(income: &Income, size: usize) -> Result<IncomeSummary, IncomeError> {
    if size == 0 {
        return Err(IncomeError::NoMembers);
    }
    let p = parts(income)?;
    let divisor = i64::try_from(size).map_err(|_| IncomeError::Overflow)?;
    // Integer division truncates toward zero, which is the documented rounding.
    let per_capita = p.net.0.checked_div(divisor).ok_or(IncomeError::Overflow)?;
    Ok(IncomeSummary {
        wage: p.wage,
        production: p.production,
        property: p.property,
        transfer: p.transfer,
        production_cost: p.production_cost,
        net: p.net,
        size,
        per_capita: Fen(per_capita),
    })
}

/// Is 人均纯收入 at or above `line_fen_per_person`? Compared as `net ≥ line × size`, so no
/// rounding of the per-capita figure can move a household across the line. A household of no
/// one meets no line.
pub fn meets_line(net: Fen, size: usize, line_fen_per_person: Fen) -> bool {
    if size == 0 {
        return false;
    }
    // i128 holds any i64 × usize product, so this never overflows.
    let size = i128::try_from(size).unwrap_or(i128::MAX);
    i128::from(net.0) >= i128::from(line_fen_per_person.0).saturating_mul(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(y: i64) -> Fen {
        Fen::from_yuan(y)
    }

    fn sample() -> Income {
        Income {
            wage: yuan(12_000),
            planting: yuan(3_000),
            breeding: yuan(2_500),
            forestry_fruit: yuan(800),
            business_other: yuan(200),
            property: yuan(150),
            family_planning: yuan(0),
            dibao: yuan(1_800),
            tekun: yuan(0),
            pension: yuan(1_296),
            eco_compensation: Fen(35_050),
            transfer_other: yuan(2_000),
            production_cost: yuan(4_100),
            insurance_claims: yuan(5_000),
            compliant_out_of_pocket: yuan(3_000),
        }
    }

    #[test]
    fn computes_net_and_per_capita_exactly() {
        let s = summarize(&sample(), 4).expect("valid");
        assert_eq!(s.wage, yuan(12_000));
        assert_eq!(s.production, yuan(6_500));
        assert_eq!(s.property, yuan(150));
        // 1800 + 1296 + 350.50 + 2000
        assert_eq!(s.transfer, Fen(544_650));
        assert_eq!(s.production_cost, yuan(4_100));
        // 12000 + 6500 + 150 + 5446.50 − 4100; claims and out-of-pocket costs are left out.
        assert_eq!(s.net, Fen(1_999_650));
        assert_eq!(s.size, 4);
        // 19996.50 / 4 = 4999.125 → 4999.12
        assert_eq!(s.per_capita, Fen(499_912));
    }

    #[test]
    fn negative_net_truncates_toward_zero() {
        let i = Income {
            planting: yuan(1_000),
            production_cost: Fen(300_001),
            ..Income::default()
        };
        let s = summarize(&i, 2).expect("valid");
        assert_eq!(s.net, Fen(-200_001));
        assert_eq!(s.per_capita, Fen(-100_000));
    }

    #[test]
    fn refuses_negative_items_and_empty_households() {
        let i = Income {
            dibao: Fen(-1),
            ..sample()
        };
        let err = summarize(&i, 3).expect_err("negative");
        assert_eq!(
            err,
            IncomeError::Negative {
                item: "低保金",
                amount: Fen(-1)
            }
        );
        assert_eq!(
            err.to_string(),
            "收入项目「低保金」不能为负数(填写为 -0.01 元)"
        );
        assert_eq!(summarize(&sample(), 0), Err(IncomeError::NoMembers));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let i = Income {
            wage: Fen(i64::MAX),
            property: Fen(1),
            ..Income::default()
        };
        assert_eq!(summarize(&i, 1), Err(IncomeError::Overflow));
        assert_eq!(net_income(&i), Err(IncomeError::Overflow));
    }

    #[test]
    fn meets_line_compares_without_rounding() {
        let line = yuan(4_000);
        assert!(meets_line(yuan(12_000), 3, line));
        assert!(!meets_line(Fen(1_199_999), 3, line));
        assert!(!meets_line(yuan(100), 0, line));
        assert!(!meets_line(Fen(-1), 1, Fen(0)));
        assert!(meets_line(Fen(i64::MAX), usize::MAX, Fen(0)));
        assert!(!meets_line(Fen(i64::MAX), usize::MAX, Fen(i64::MAX)));
    }
}
