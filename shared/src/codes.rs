//! Code lists of the national collection forms, as enums.
//!
//! Each code has a stable ASCII code (the wire and storage form, never shown to users) and its
//! Chinese label (what forms, exports and the national system's CSV use). Parsing accepts either;
//! anything else is an [`UnknownCode`] naming the list and the accepted values. A small
//! `macro_rules!` generates the lists: one definition per code, no hand-kept match arms that could
//! drift apart.

/// A value that is not in a code list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("「{list}」不认识的值「{value}」,可选:{expected}")]
pub struct UnknownCode {
    /// The list's Chinese name, e.g. 致贫原因.
    pub list: &'static str,
    pub value: String,
    /// Accepted labels, joined with 、.
    pub expected: String,
}

/// What every generated code list offers; lets generic code (CSV import, forms) handle any list.
pub trait CodeList: Copy + Sized + 'static {
    /// The list's Chinese name.
    const LIST: &'static str;
    const ALL: &'static [Self];
    fn code(self) -> &'static str;
    fn label(self) -> &'static str;

    /// Accepts the code or the Chinese label.
    fn parse(s: &str) -> Result<Self, UnknownCode> {
        let s = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.code() == s || c.label() == s)
            .ok_or_else(|| UnknownCode {
                list: Self::LIST,
                value: s.to_owned(),
                expected: Self::ALL
                    .iter()
                    .map(|c| c.label())
                    .collect::<Vec<_>>()
                    .join("、"),
            })
    }
}

/// Defines a code list; exported so the server's own lists (roles) are made the same way.
#[macro_export]
macro_rules! code_list {
    ($(#[$meta:meta])* $name:ident, $list:literal { $($variant:ident = $code:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $crate::codes::CodeList for $name {
            const LIST: &'static str = $list;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::codes::CodeList::label(*self))
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::codes::UnknownCode;
            fn from_str(s: &str) -> Result<Self, $crate::codes::UnknownCode> {
                <Self as $crate::codes::CodeList>::parse(s)
            }
        }

        $crate::serde_as_text!(
            $name,
            |c| $crate::codes::CodeList::code(*c),
            <$name as $crate::codes::CodeList>::parse
        );
    };
}

pub use code_list;

code_list!(
    /// 户状态 as the national system words it.
    HouseholdStatus, "户状态" {
        NotExited = "not_exited", "未脱贫";
        ExitedSupported = "exited_supported", "已脱贫(享受政策)";
        ExitedUnsupported = "exited_unsupported", "已脱贫(不再享受政策)";
        Relapsed = "relapsed", "返贫";
        Ordinary = "ordinary", "一般农户";
        Edge = "edge", "边缘户";
    }
);

code_list!(
    /// 监测对象类别 (after 2021).
    MonitoringCategory, "监测对象类别" {
        UnstableExited = "unstable_exited", "脱贫不稳定户";
        EdgeAtRisk = "edge_at_risk", "边缘易致贫户";
        SuddenHardship = "sudden_hardship", "突发严重困难户";
    }
);

code_list!(
    /// 识别标准: which level's income line applies to the household.
    StandardLevel, "识别标准" {
        National = "national", "国家";
        Provincial = "provincial", "省定";
        Municipal = "municipal", "市定";
    }
);

code_list!(
    /// 贫困户属性.
    PovertyAttribute, "贫困户属性" {
        General = "general", "一般贫困户";
        Dibao = "dibao", "低保贫困户";
        Tekun = "tekun", "特困供养贫困户";
    }
);

code_list!(
    /// 致贫原因.
    PovertyCause, "致贫原因" {
        Illness = "illness", "因病";
        Disability = "disability", "因残";
        Schooling = "schooling", "因学";
        Disaster = "disaster", "因灾";
        LackLand = "lack_land", "缺土地";
        LackWater = "lack_water", "缺水";
        LackSkills = "lack_skills", "缺技术";
        LackLabour = "lack_labour", "缺劳力";
        LackFunds = "lack_funds", "缺资金";
        PoorTransport = "poor_transport", "交通条件落后";
        LowMotivation = "low_motivation", "自身发展动力不足";
        Other = "other", "其他";
    }
);

code_list!(
    /// 帮扶措施.
    HelpMeasure, "帮扶措施" {
        Industry = "industry", "产业";
        Employment = "employment", "就业";
        MicroCredit = "micro_credit", "金融(小额信贷)";
        PublicJob = "public_job", "公益岗位";
        Housing = "housing", "住房安全";
        Water = "water", "饮水安全";
        Health = "health", "健康";
        CompulsoryEducation = "compulsory_education", "义务教育";
        OtherEducation = "other_education", "其他教育";
        SocialSecurity = "social_security", "综合保障";
        SocialHelp = "social_help", "社会帮扶";
        Relocation = "relocation", "搬迁";
        Infrastructure = "infrastructure", "基础设施";
    }
);

code_list!(
    /// 性别.
    Sex, "性别" {
        Male = "male", "男";
        Female = "female", "女";
    }
);

code_list!(
    /// 与户主关系.
    Relation, "与户主关系" {
        Head = "head", "户主";
        Spouse = "spouse", "配偶";
        Son = "son", "之子";
        Daughter = "daughter", "之女";
        DaughterInLaw = "daughter_in_law", "儿媳";
        SonInLaw = "son_in_law", "女婿";
        Grandchild = "grandchild", "孙辈";
        Parent = "parent", "父母";
        ParentInLaw = "parent_in_law", "岳父母/公婆";
        Grandparent = "grandparent", "祖辈";
        Sibling = "sibling", "兄弟姐妹";
        Other = "other", "其他";
    }
);

code_list!(
    /// 政治面貌.
    PoliticalStatus, "政治面貌" {
        CpcMember = "cpc_member", "中共党员";
        CpcProbationary = "cpc_probationary", "中共预备党员";
        CylMember = "cyl_member", "共青团员";
        OtherParty = "other_party", "民主党派";
        Masses = "masses", "群众";
    }
);

code_list!(
    /// 文化程度 (for members not in school).
    Education, "文化程度" {
        Illiterate = "illiterate", "文盲或半文盲";
        Primary = "primary", "小学";
        Junior = "junior", "初中";
        Senior = "senior", "高中(含中专)";
        College = "college", "大专及以上";
    }
);

code_list!(
    /// 在校生状况 (for members in school).
    SchoolStage, "在校生状况" {
        Preschool = "preschool", "学前教育";
        Primary = "primary", "小学";
        Junior = "junior", "初中";
        Senior = "senior", "高中";
        Vocational = "vocational", "中职";
        HigherVocational = "higher_vocational", "高职高专";
        University = "university", "大学本科及以上";
    }
);

code_list!(
    /// 失辍学原因.
    DropoutReason, "失辍学原因" {
        Illness = "illness", "因病";
        Disability = "disability", "因残";
        LearningDifficulty = "learning_difficulty", "因学习困难";
        FamilyHardship = "family_hardship", "因家庭困难";
        Distance = "distance", "因路途遥远";
        Other = "other", "其他";
    }
);

impl DropoutReason {
    /// 因身体原因: the only dropouts compulsory-education assessment excuses.
    pub fn is_physical(self) -> bool {
        matches!(self, DropoutReason::Illness | DropoutReason::Disability)
    }
}

code_list!(
    /// 健康状况.
    Health, "健康状况" {
        Healthy = "healthy", "健康";
        Chronic = "chronic", "长期慢性病";
        SeriousIllness = "serious_illness", "患有大病";
        Disabled = "disabled", "残疾";
    }
);

code_list!(
    /// 劳动技能.
    LabourSkill, "劳动技能" {
        Ordinary = "ordinary", "普通劳动力";
        Skilled = "skilled", "技能劳动力";
        Weak = "weak", "弱劳动力或半劳动力";
        Lost = "lost", "丧失劳动力";
        NoLabour = "none", "无劳动力";
    }
);

code_list!(
    /// 务工地点.
    WorkPlace, "务工地点" {
        Township = "township", "乡内";
        County = "county", "县内";
        Province = "province", "省内";
        OutsideProvince = "outside", "省外";
    }
);

code_list!(
    /// 人员变动原因: why a member joined or left the household.
    MemberChange, "人员变动原因" {
        Birth = "birth", "出生";
        Death = "death", "死亡";
        MarryIn = "marry_in", "婚入";
        MarryOut = "marry_out", "婚出";
        MoveIn = "move_in", "迁入";
        MoveOut = "move_out", "迁出";
        WrongEntry = "wrong_entry", "错误登记";
        Other = "other", "其他";
    }
);

code_list!(
    /// 入户路类型.
    RoadType, "入户路类型" {
        Dirt = "dirt", "泥土路";
        Gravel = "gravel", "砂石路";
        Hardened = "hardened", "硬化路";
        Other = "other", "其他";
    }
);

code_list!(
    /// 住房结构.
    HouseStructure, "住房结构" {
        EarthWood = "earth_wood", "土木";
        BrickWood = "brick_wood", "砖木";
        BrickConcrete = "brick_concrete", "砖混";
        SteelConcrete = "steel_concrete", "钢混";
        Other = "other", "其他";
    }
);

code_list!(
    /// 危房等级 A–D.
    HouseGrade, "危房等级" {
        A = "a", "A级";
        B = "b", "B级";
        C = "c", "C级";
        D = "d", "D级";
    }
);

impl HouseGrade {
    /// A and B are safe; C (partly dangerous) and D (wholly dangerous) are not.
    pub fn is_safe(self) -> bool {
        matches!(self, HouseGrade::A | HouseGrade::B)
    }
}

code_list!(
    /// 走访方式: 人在家必进门、人在外必通话.
    VisitMode, "走访方式" {
        InPerson = "in_person", "入户";
        Phone = "phone", "电话";
    }
);

code_list!(
    /// 对帮扶工作满意度.
    Satisfaction, "满意度" {
        Satisfied = "satisfied", "满意";
        Basically = "basically", "基本满意";
        Unsatisfied = "unsatisfied", "不满意";
    }
);

code_list!(
    /// 动态管理事项: the actions a survey can propose.
    CaseKind, "动态管理类型" {
        NewEntry = "new_entry", "新识别";
        Exit = "exit", "脱贫退出";
        Relapse = "relapse", "返贫";
        WrongEntryRemoval = "wrong_entry_removal", "错评剔除";
        WrongfulExit = "wrongful_exit", "错退";
        MonitoringInclude = "monitoring_include", "纳入监测";
        RiskCleared = "risk_cleared", "风险消除";
        MemberChange = "member_change", "人员变动";
    }
);

code_list!(
    /// 工作批次类型: the exercises a county runs, each with its own dates and report.
    RoundKind, "批次类型" {
        Dynamic = "dynamic", "动态管理";
        Verification = "verification", "精准核查";
        Screening = "screening", "集中排查";
        Monitoring = "monitoring", "监测";
    }
);

code_list!(
    /// How a case started.
    CaseOrigin, "发起方式" {
        Application = "application", "农户申请";
        Screening = "screening", "排查发现";
    }
);

code_list!(
    /// The procedure, in order.
    ProcedureStep, "程序步骤" {
        HomeCheck = "home_check", "入户核查";
        Deliberation = "deliberation", "民主评议";
        Publicity = "publicity", "公示";
        TownshipReview = "township_review", "乡镇审核";
        CountyDecision = "county_decision", "县级审定";
        Announcement = "announcement", "公告";
    }
);

impl ProcedureStep {
    /// Position in the chain, from 0.
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn previous(self) -> Option<ProcedureStep> {
        self.index().checked_sub(1).map(|i| Self::ALL[i])
    }
}

code_list!(
    /// Outcome recorded for a procedure step.
    StepOutcome, "步骤结果" {
        Passed = "passed", "通过";
        Returned = "returned", "退回";
        Rejected = "rejected", "不通过";
    }
);

code_list!(
    /// What an attachment is.
    AttachmentKind, "附件类型" {
        Photo = "photo", "照片";
        Signature = "signature", "签名";
    }
);

code_list!(
    /// Who signs a form.
    SignerRole, "签字人" {
        Head = "head", "户主";
        Surveyor = "surveyor", "调查人";
        TeamLeader = "team_leader", "队长";
        DeputyLeader = "deputy_leader", "副队长";
        Helper = "helper", "帮扶责任人";
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_label_round_trip_through_json() {
        for c in PovertyCause::ALL {
            let json = serde_json::to_string(c).expect("serialize");
            assert_eq!(json, format!("\"{}\"", c.code()));
            let back: PovertyCause = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, *c);
            assert_eq!(PovertyCause::parse(c.label()), Ok(*c));
        }
    }

    #[test]
    fn unknown_code_names_list_and_choices() {
        let err = serde_json::from_str::<HouseGrade>("\"e\"").expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("危房等级"), "{text}");
        assert!(text.contains("「e」"), "{text}");
        assert!(text.contains("A级、B级、C级、D级"), "{text}");
    }

    #[test]
    fn codes_are_unique_within_each_list() {
        fn unique<T: CodeList>() {
            let mut codes: Vec<_> = T::ALL.iter().map(|c| c.code()).collect();
            let mut labels: Vec<_> = T::ALL.iter().map(|c| c.label()).collect();
            codes.sort_unstable();
            labels.sort_unstable();
            let n = T::ALL.len();
            codes.dedup();
            labels.dedup();
            assert_eq!((codes.len(), labels.len()), (n, n), "{}", T::LIST);
        }
        unique::<HouseholdStatus>();
        unique::<Relation>();
        unique::<CaseKind>();
        unique::<ProcedureStep>();
        unique::<DropoutReason>();
        unique::<HelpMeasure>();
    }

    #[test]
    fn procedure_steps_are_ordered() {
        assert_eq!(ProcedureStep::HomeCheck.previous(), None);
        assert_eq!(
            ProcedureStep::CountyDecision.previous(),
            Some(ProcedureStep::TownshipReview)
        );
        assert_eq!(ProcedureStep::Announcement.index(), 5);
    }
}
