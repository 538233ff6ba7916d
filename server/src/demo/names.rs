//! Name tables of the synthetic county: townships of 凤庆县, village name parts, surnames and
//! given names common in the area, and the units helpers come from.

/// The generated layout's townships (codes 530921100, 530921101, … in this order) and how many
/// villages each has.
pub(super) const TOWNSHIPS: [(&str, usize); 10] = [
    ("凤山镇", 9),
    ("鲁史镇", 11),
    ("小湾镇", 10),
    ("营盘镇", 12),
    ("三岔河镇", 8),
    ("勐佑镇", 10),
    ("雪山镇", 9),
    ("洛党镇", 11),
    ("诗礼乡", 10),
    ("新华乡", 10),
];
pub(super) const PLACE_A: [&str; 16] = [
    "三", "孔", "新", "安", "石", "红", "龙", "凤", "大", "小", "平", "河", "岩", "团", "中", "永",
];
pub(super) const PLACE_B: [&str; 12] = [
    "合", "兴", "华", "乐", "桥", "山", "坝", "箐", "塘", "寨", "丰", "和",
];
pub(super) const SURNAMES: [&str; 24] = [
    "李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "字", "鲁", "查", "茶",
];
pub(super) const GIVEN: [&str; 30] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "文", "华", "建国", "志强", "春梅", "海燕",
    "玉兰",
];
pub(super) const UNITS: [&str; 20] = [
    "县交通局",
    "县教育局",
    "县卫健局",
    "县农业农村局",
    "县水务局",
    "县财政局",
    "县人社局",
    "县住建局",
    "县林草局",
    "县民政局",
    "县供销社",
    "县人民医院",
    "县第一中学",
    "县公安局",
    "县自然资源局",
    "县市场监管局",
    "县税务局",
    "农业银行凤庆支行",
    "县供电局",
    "乡镇干部",
];
