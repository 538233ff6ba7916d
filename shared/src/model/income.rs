//! 收入 — one survey period's income (last 12 months) in fen.

use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// All items of the income form. A zero item is not stored (blank and 0 mean the same on the
/// form), so two devices filling different items of a new year never overwrite each other.
/// Net and per-capita figures are computed (see
/// [`crate::rules::income`]), never typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Income {
    /// 工资性收入.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub wage: Fen,
    /// 生产经营性收入: 种植.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub planting: Fen,
    /// 养殖.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub breeding: Fen,
    /// 林果.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub forestry_fruit: Fen,
    /// 其他生产经营.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub business_other: Fen,
    /// 财产性收入.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub property: Fen,
    /// 转移性收入: 计划生育金.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub family_planning: Fen,
    /// 低保金.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub dibao: Fen,
    /// 特困供养金.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub tekun: Fen,
    /// 养老保险金.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub pension: Fen,
    /// 生态补偿金.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub eco_compensation: Fen,
    /// 其他转移性收入.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub transfer_other: Fen,
    /// 生产经营性支出.
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub production_cost: Fen,
    /// 理赔收入 (recorded; not part of net income).
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub insurance_claims: Fen,
    /// 合规自付支出 (recorded; not part of net income).
    #[serde(skip_serializing_if = "Fen::is_zero")]
    pub compliant_out_of_pocket: Fen,
}

impl Income {
    /// Every item with its stable name and Chinese label, in form order.
    pub fn items(&self) -> [(&'static str, &'static str, Fen); 15] {
        [
            ("wage", "工资性收入", self.wage),
            ("planting", "种植收入", self.planting),
            ("breeding", "养殖收入", self.breeding),
            ("forestry_fruit", "林果收入", self.forestry_fruit),
            ("business_other", "其他生产经营收入", self.business_other),
            ("property", "财产性收入", self.property),
            ("family_planning", "计划生育金", self.family_planning),
            ("dibao", "低保金", self.dibao),
            ("tekun", "特困供养金", self.tekun),
            ("pension", "养老保险金", self.pension),
            ("eco_compensation", "生态补偿金", self.eco_compensation),
            ("transfer_other", "其他转移性收入", self.transfer_other),
            ("production_cost", "生产经营性支出", self.production_cost),
            ("insurance_claims", "理赔收入", self.insurance_claims),
            (
                "compliant_out_of_pocket",
                "合规自付支出",
                self.compliant_out_of_pocket,
            ),
        ]
    }
}
