//! The supervisors' pages in a real browser, at a phone's and at a desktop's size: households
//! seeded through real field clients (a roster import, statuses, a 新识别 case passed through
//! 入户核查, 民主评议 and a finished 公示, and a conflict from two devices editing offline), then
//! a township reviewer and a county supervisor log in, read the report, drill down to the
//! household, decide their steps, settle the conflict and download the roster as Excel.
//!
//! What a person would see wrong on the screen (a label broken over lines, a confirmation out of
//! view) is gathered as the story goes and asserted at its end, so one run reports all of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx, open_workbook};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use zoufang_e2e::areas::{COUNTY, SHILI, day, today};
use zoufang_e2e::page::{self, click, click_in, fill, find};
use zoufang_e2e::photos::{post_visit, solid_png, upload};
use zoufang_e2e::review::{pass_steps_through, propose_case};
use zoufang_e2e::survey::ready_for_exit;
use zoufang_e2e::{
    Browser, ClientProcess, Device, ServerProcess, TEST_PASSWORD, TestDb, enroll_each,
    exported_household, roster_csv, wait_text,
};
use zoufang_shared::demo::id_number;

/// 三合村: head 户主0, spouse and son; the household with the 新识别 case.
const CASE_NO: &str = "530921100201001";
const CASE_HH: &str = "hh-530921100201001";
const CASE_HEAD: &str = "户主0";
/// 孔兴村: head 户主3 and spouse; the household two surveyors grade differently.
const OTHER_NO: &str = "530921100202001";
const OTHER_HH: &str = "hh-530921100202001";
const OTHER_HEAD: &str = "户主3";

const REVIEWER: &str = "xiang";
const SUPERVISOR: &str = "xian";

/// The resident ID of the first household's head (person 0 of the roster: born 1950-01-01).
fn case_head_id() -> String {
    id_number("19500101", "011")
}

/// What the field teams did before the supervisors look.
struct Seeded {
    _db: TestDb,
    server: ServerProcess,
    zhang: Device,
    li: Device,
    case_id: String,
}

async fn seed() -> Seeded {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_users(
        &db.url,
        &[
            ("zhang", "surveyor", SHILI),
            ("li", "surveyor", SHILI),
            (REVIEWER, "township_reviewer", SHILI),
            (SUPERVISOR, "county_supervisor", COUNTY),
        ],
    )
    .await;
    let [zhang, li] = enroll_each(&server.url, ["zhang", "li"]).await;
    zhang
        .import_roster(&roster_csv(
            &[(CASE_NO, "三合村", 3), (OTHER_NO, "孔兴村", 2)],
            0,
        ))
        .await;
    for hh in [CASE_HH, OTHER_HH] {
        zhang.ok(&["edit", hh, "info.status", "not_exited"]).await;
    }

    // The case and its field steps, entered through the phone's own web API.
    let ui = ClientProcess::start(zhang.data.path()).await;
    let case_id = propose_case(&ui, CASE_HH, "new_entry", Some("screening")).await;
    pass_steps_through(
        &ui,
        CASE_HH,
        &case_id,
        "publicity",
        today(),
        (day(-10), day(-3)),
    )
    .await;
    ui.kill().await;

    let sent = zhang.sync().await;
    assert_eq!(sent["accepted"], 2, "{sent}");
    li.sync().await;
    // Both grade the same house offline, differently, then sync: a conflict on the server.
    zhang
        .ok(&["edit", OTHER_HH, "living.house_grade", "c"])
        .await;
    li.ok(&["edit", OTHER_HH, "living.house_grade", "d"]).await;
    zhang.sync().await;
    li.sync().await;
    Seeded {
        _db: db,
        server,
        zhang,
        li,
        case_id,
    }
}

// --- Reading pages -----------------------------------------------------------------------------

/// Text without any whitespace: "1户\n3人" reads "1户3人".
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

async fn text_of(el: &Element) -> String {
    el.text().await.expect("text")
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.expect("find").len()
}

/// Waits for the page whose path starts with `prefix` and whose query contains `query`;
/// returns its URL.
async fn wait_page(c: &Client, prefix: &str, query: &str) -> String {
    wait_url(c, prefix, query, true).await
}

/// [`wait_page`] for any document (an image has no `main`) unless `page`.
async fn wait_url(c: &Client, prefix: &str, query: &str, page: bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let url = c.current_url().await.expect("url");
        if url.path().starts_with(prefix)
            && url.query().unwrap_or("").contains(query)
            && (!page || c.find(Locator::Css("main")).await.is_ok())
        {
            return url.to_string();
        }
        last = url.to_string();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached {prefix}?…{query}…; still at {last}");
}

/// The element among `css` whose text (whitespace ignored) is `text`.
async fn by_text(c: &Client, css: &str, text: &str) -> Element {
    let mut seen = Vec::new();
    for el in c.find_all(Locator::Css(css)).await.expect("find") {
        let t = squash(&text_of(&el).await);
        if t == squash(text) {
            return el;
        }
        seen.push(t);
    }
    panic!("no {css} reads {text:?}; there are {seen:?}");
}

/// The texts of a table row's cells, whitespace removed.
async fn cells_of(row: &Element) -> Vec<String> {
    let mut cells = Vec::new();
    for cell in row.find_all(Locator::Css("th, td")).await.expect("cells") {
        cells.push(squash(&text_of(&cell).await));
    }
    cells
}

/// The report's cell for a case kind (row) at a procedure stage (column).
async fn case_cell(c: &Client, kind: &str, bucket: &str) -> Element {
    let mut column = None;
    let headers = c
        .find_all(Locator::Css("table.counts.wide thead th"))
        .await
        .expect("headers");
    for (i, h) in headers.iter().enumerate() {
        if squash(&text_of(h).await) == bucket {
            column = Some(i);
        }
    }
    let column = column.unwrap_or_else(|| panic!("no column {bucket}"));
    for row in c
        .find_all(Locator::Css("table.counts.wide tbody tr"))
        .await
        .expect("rows")
    {
        let cells = row.find_all(Locator::Css("th, td")).await.expect("cells");
        if squash(&text_of(&cells[0]).await) == kind {
            return cells[column].clone();
        }
    }
    panic!("no row {kind}");
}

/// What the browser knows about the page on screen: its width against the viewport, CSP
/// violations (buffered, so those of the page's load count too), failed loads, whether the
/// stylesheet applies, and how the top bar's links lie.
const PAGE_FACTS: &str = r#"
    const done = arguments[0];
    const csp = [];
    const report = (rs) => csp.push(...rs.map(r =>
      r.body.effectiveDirective + ' ' + (r.body.blockedURL || r.body.sourceFile)));
    const observer = new ReportingObserver(report, { types: ['csp-violation'], buffered: true });
    observer.observe();
    setTimeout(() => {
      report(observer.takeRecords());
      observer.disconnect();
      const root = document.documentElement;
      const header = document.querySelector('header.top');
      const nav = document.querySelector('header.top nav');
      const box = nav && nav.getBoundingClientRect();
      done({
        fits: root.scrollWidth <= window.innerWidth,
        scrollWidth: root.scrollWidth,
        innerWidth: window.innerWidth,
        csp,
        failed: performance.getEntriesByType('resource')
          .concat(performance.getEntriesByType('navigation'))
          .filter(e => e.responseStatus >= 400)
          .map(e => e.name + ' ' + e.responseStatus),
        inlineStyles: document.querySelectorAll('[style]').length,
        styled: !!header && getComputedStyle(header).position === 'sticky',
        wideOutsideScroll: [...document.querySelectorAll('table')]
          .filter(t => t.scrollWidth > window.innerWidth && !t.closest('.scroll')).length,
        header: header ? Math.round(header.getBoundingClientRect().height) : 0,
        nav: nav ? [...nav.querySelectorAll('a')].map(a => {
          const text = document.createRange();
          text.selectNodeContents(a);
          const r = a.getBoundingClientRect();
          return {
            label: a.textContent.trim(),
            lines: text.getClientRects().length,
            visible: r.left >= box.left - 0.5 && r.right <= Math.min(box.right, window.innerWidth) + 0.5,
          };
        }) : [],
      });
    }, 50);"#;

/// Where the confirmation of a post lies against the viewport and the sticky top bar.
const NOTICE_FACTS: &str = r#"
    const n = document.querySelector('p.notice').getBoundingClientRect();
    const bar = document.querySelector('header.top').getBoundingClientRect();
    return {
      inView: n.top >= bar.bottom - 0.5 && n.bottom <= window.innerHeight + 0.5,
      top: Math.round(n.top), bar: Math.round(bar.bottom), height: window.innerHeight,
      hash: location.hash,
    };"#;

// --- The reviewers' session --------------------------------------------------------------------

/// One browser on the review pages, at one screen size.
struct Review<'a> {
    c: &'a Client,
    base: String,
    /// The viewport's width, for screenshot names and messages.
    width: u32,
    /// What a person would see wrong, each once.
    defects: Vec<String>,
}

impl Review<'_> {
    fn defect(&mut self, what: String) {
        if !self.defects.contains(&what) {
            self.defects.push(what);
        }
    }

    /// Saves a screenshot when `ZOUFANG_SCREENSHOTS` names a directory (for a person to look at).
    async fn snap(&self, name: &str) {
        page::snap(self.c, &format!("review-{}-{name}", self.width)).await;
    }

    /// A page as a person gets it on this screen: nothing sticks out sideways (wide tables
    /// scroll inside their own `.scroll` box), the stylesheet applies, the browser refused
    /// nothing (CSP) and every load succeeded; and each link of the top bar reads on one line
    /// and is in view.
    async fn sound_page(&mut self, what: &str) {
        let facts = self
            .c
            .execute_async(PAGE_FACTS, vec![])
            .await
            .expect("page facts");
        assert_eq!(
            facts["fits"],
            Value::Bool(true),
            "{what}: the page scrolls sideways: {facts}"
        );
        assert_eq!(facts["wideOutsideScroll"], 0, "{what}: {facts}");
        assert_eq!(facts["csp"], json!([]), "{what}: CSP violations: {facts}");
        assert_eq!(facts["failed"], json!([]), "{what}: failed loads: {facts}");
        assert_eq!(facts["inlineStyles"], 0, "{what}: {facts}");
        assert_eq!(
            facts["styled"],
            Value::Bool(true),
            "{what}: unstyled: {facts}"
        );
        for link in facts["nav"].as_array().into_iter().flatten() {
            let label = link["label"].as_str().unwrap_or("");
            let lines = link["lines"].as_u64().unwrap_or(0);
            if lines > 1 {
                self.defect(format!(
                    "top bar: the link 「{label}」 breaks over {lines} lines (the bar is {} px tall)",
                    facts["header"]
                ));
            }
            if link["visible"] != Value::Bool(true) {
                self.defect(format!(
                    "top bar: the link 「{label}」 is cut off, outside the nav's visible box"
                ));
            }
        }
    }

    /// The confirmation of a post must be in view, not above the screen nor under the bar.
    async fn notice_in_view(&mut self, after: &str) {
        let n = self
            .c
            .execute(NOTICE_FACTS, vec![])
            .await
            .expect("notice facts");
        if n["inView"] != Value::Bool(true) {
            self.defect(format!(
                "after {after} the notice is out of view: its top at {} px, the top bar ends at \
                 {} px, the viewport is {} px tall (the page opened at {})",
                n["top"], n["bar"], n["height"], n["hash"]
            ));
        }
    }

    async fn login(&mut self, username: &str) {
        self.login_as(username, username).await;
    }

    /// Logs in as `username`, whom the top bar then names `shown`.
    async fn login_as(&mut self, username: &str, shown: &str) {
        let c = self.c;
        c.goto(&format!("{}/login", self.base))
            .await
            .expect("login page");
        self.sound_page("/login").await;
        fill(c, "username", username).await;
        fill(c, "password", TEST_PASSWORD).await;
        self.snap(&format!("login-{username}")).await;
        find(c, "form.stack button[type=submit]")
            .await
            .click()
            .await
            .expect("log in");
        wait_page(c, "/report", "").await;
        wait_text(c, "form.logout .user", shown).await;
    }

    async fn logout(&self) {
        // On a phone the bar's first line (with 退出) is in view at the top of the page.
        self.c
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .expect("scroll up");
        find(self.c, "form.logout button[type=submit]")
            .await
            .click()
            .await
            .expect("log out");
        wait_page(self.c, "/login", "").await;
    }

    /// Follows a link of the top bar.
    async fn nav(&mut self, path: &str) {
        find(self.c, &format!("header.top nav a[href=\"{path}\"]"))
            .await
            .click()
            .await
            .expect("nav");
        wait_page(self.c, path, "").await;
        self.sound_page(path).await;
    }

    /// Reads the report of the user's area (`area`), checks the 新识别 cell at `bucket`, and
    /// follows it to the roster, then to the household.
    async fn drill_down(&mut self, area: &str, bucket: &str, name: &str) {
        let c = self.c;
        self.nav("/report").await;
        wait_text(c, "main h1", area).await;
        // The statuses entered on the phones.
        let status = by_text(c, "table.counts:not(.wide) tbody td", "未脱贫")
            .await
            .find(Locator::XPath(".."))
            .await
            .expect("status row");
        assert_eq!(cells_of(&status).await, ["未脱贫", "2户5人"]);
        // On a phone the stages table is wider than the screen and scrolls in its own box.
        let boxed = c
            .execute(
                "const box = document.querySelector('table.counts.wide').closest('.scroll');
                 return box.scrollWidth > box.clientWidth;",
                vec![],
            )
            .await
            .expect("script");
        if self.width < 600 {
            assert_eq!(
                boxed,
                Value::Bool(true),
                "the stages table scrolls in its box"
            );
        }
        let cell = case_cell(c, "新识别", bucket).await;
        assert_eq!(
            squash(&text_of(&cell).await),
            "1户3人",
            "the 新识别 · {bucket} cell"
        );
        self.snap(&format!("{name}-report")).await;
        click_in(&cell, "a").await;
        let url = wait_page(c, "/roster", "kind=new_entry").await;
        assert!(url.contains("bucket="), "{url}");
        self.sound_page("/roster (drilled down)").await;
        let words = wait_text(c, "p.filter-words", "新识别").await;
        assert!(words.contains(bucket), "{words}");
        assert_eq!(text_of(&find(c, "strong.total").await).await, "1");
        let rows = self.roster_rows().await;
        assert_eq!(rows.len(), 1, "only the household with the case");
        let row = squash(&text_of(&rows[0]).await);
        assert!(row.contains(CASE_HEAD) && row.contains('3'), "{row}");
        // Its case and where the case stands, without opening the household.
        assert!(row.contains("新识别") && row.contains(bucket), "{row}");
        self.snap(&format!("{name}-roster")).await;
        click_in(&rows[0], "a").await;
        wait_page(c, &format!("/households/{CASE_HH}"), "").await;
        wait_text(c, "main h1", CASE_HEAD).await;
        self.sound_page("/households/{id}").await;
    }

    /// The roster's households as this screen shows them: a sortable table's rows on a
    /// desktop, cards on a phone.
    async fn roster_rows(&self) -> Vec<Element> {
        let css = if self.width >= 900 {
            "table.roster tbody tr"
        } else {
            "ul.cards li.card"
        };
        self.c
            .find_all(Locator::Css(css))
            .await
            .expect("roster rows")
    }

    /// Passes the step the household page offers this user, and checks what the page shows.
    async fn approve(&mut self, step: &str, by: &str, name: &str) {
        self.approve_on(CASE_HH, step, by, name).await;
    }

    /// [`Self::approve`] on `household`'s page.
    async fn approve_on(&mut self, household: &str, step: &str, by: &str, name: &str) {
        let c = self.c;
        let form = find(c, "form.decide").await;
        let offered = text_of(&form).await;
        assert!(offered.contains(step), "the form offers {offered:?}");
        let passed = form
            .find(Locator::XPath(
                ".//label[input[@name='outcome'][@value='passed']]",
            ))
            .await
            .expect("the 通过 choice");
        assert_eq!(squash(&text_of(&passed).await), "通过");
        click_in(&passed, "input").await;
        self.snap(&format!("{name}-decide")).await;
        click_in(&form, "button[type=submit]").await;
        wait_page(c, &format!("/households/{household}"), "done=decided").await;
        wait_text(c, "p.notice", "审批意见已保存").await;
        assert_eq!(count(c, "p.error").await, 0);
        self.snap(&format!("{name}-decided")).await;
        self.notice_in_view(&format!("deciding {step}")).await;
        wait_text(c, "article.case .stage", &format!("{step}已通过")).await;
        let row = by_text(c, "article.case table.steps tbody td:first-child", step)
            .await
            .find(Locator::XPath(".."))
            .await
            .expect("step row");
        // The date column is the server's day, not compared: the test's clock may be on
        // another side of midnight.
        let cells = cells_of(&row).await;
        assert_eq!(
            [&cells[0], &cells[1], &cells[3]],
            [step, "通过", by],
            "{cells:?}"
        );
        self.sound_page("/households/{id} after deciding").await;
    }

    /// Settles the one conflict of the household on screen with the value shown as `value`.
    async fn settle(&mut self, field: &str, value: &str) {
        let c = self.c;
        let form = find(c, "form.conflict").await;
        let legend = text_of(&form.find(Locator::Css("legend")).await.expect("legend")).await;
        assert_eq!(legend, field);
        let mut shown = Vec::new();
        for choice in form
            .find_all(Locator::Css("label.check.value"))
            .await
            .expect("choices")
        {
            let Ok(strong) = choice.find(Locator::Css("strong")).await else {
                continue;
            };
            let text = text_of(&strong).await;
            if text == value {
                click_in(&choice, "input[type=radio]").await;
            }
            shown.push(text);
        }
        shown.sort();
        assert_eq!(shown, ["C级", "D级"], "the values written");
        self.snap("3-settle").await;
        click_in(&form, "button[type=submit]").await;
        wait_page(c, &format!("/households/{OTHER_HH}"), "done=settled").await;
        wait_text(c, "p.notice", "冲突已处理").await;
        assert_eq!(count(c, "p.error").await, 0);
        self.notice_in_view("settling a conflict").await;
        wait_text(c, "#conflicts", "没有冲突。").await;
        assert_eq!(count(c, "form.conflict").await, 0);
        self.sound_page("/households/{id} after settling").await;
    }

    /// Clicks 导出 Excel on the roster page of the user's area and waits for the new file.
    async fn download_roster(&mut self, dir: &Path, area: &str) -> PathBuf {
        self.nav("/roster").await;
        let before = downloaded(dir);
        by_text(self.c, "p.actions a", "导出 Excel")
            .await
            .click()
            .await
            .expect("export");
        let new = wait_download(dir, &before).await;
        let name = new.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(name.starts_with(&format!("花名册-{area}")), "{name}");
        new
    }
}

/// Waits for a spreadsheet in `dir` that is not among `before`.
async fn wait_download(dir: &Path, before: &[PathBuf]) -> PathBuf {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(new) = downloaded(dir).into_iter().find(|p| !before.contains(p)) {
            return new;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    panic!("nothing was downloaded into {}: {all:?}", dir.display());
}

/// The spreadsheets Chromium has finished saving in `dir` (not its `.crdownload` parts).
fn downloaded(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("download dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    files.sort();
    files
}

/// The roster sheet's rows, each by column name.
fn roster_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut book: Xlsx<_> = open_workbook(path).expect("open the XLSX");
    let sheet = book
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("read the sheet");
    let mut rows = sheet.rows();
    let header: Vec<String> = rows
        .next()
        .expect("a header row")
        .iter()
        .map(Data::to_string)
        .collect();
    rows.map(|r| {
        header
            .iter()
            .cloned()
            .zip(r.iter().map(Data::to_string))
            .collect()
    })
    .collect()
}

fn row_of<'a>(rows: &'a [HashMap<String, String>], head: &str) -> &'a HashMap<String, String> {
    rows.iter()
        .find(|r| r.get("户主姓名").map(String::as_str) == Some(head))
        .unwrap_or_else(|| panic!("{head} not in the roster: {rows:?}"))
}

/// Fails naming everything a person would have seen wrong at this size.
fn no_defects(defects: &[String], width: u32, height: u32) {
    assert!(
        defects.is_empty(),
        "{} thing(s) look wrong at {width}×{height}:\n- {}",
        defects.len(),
        defects.join("\n- ")
    );
}

// --- The story ---------------------------------------------------------------------------------

async fn supervisors_review_in_a_browser(width: u32, height: u32) {
    let started = Instant::now();
    let s = seed().await;
    let seeded = started.elapsed();
    let downloads = tempfile::tempdir().expect("download dir");
    let browser = Browser::start_with_downloads(width, height, downloads.path()).await;
    let c = &browser.client;
    let mut r = Review {
        c,
        base: s.server.url.clone(),
        width,
        defects: Vec::new(),
    };

    // Nobody signed in: the pages lead to the login.
    c.goto(&format!("{}/report", r.base)).await.expect("open");
    wait_page(c, "/login", "").await;

    // --- The township reviewer: the finished 公示 in the report, down to the household.
    r.login(REVIEWER).await;
    r.drill_down("诗礼乡", "公示结束", "1-township").await;
    let members = text_of(&find(c, "#members").await).await;
    assert!(
        members.contains(&case_head_id()),
        "the township reviewer reads full IDs: {members}"
    );
    r.approve("乡镇审核", REVIEWER, "1-township").await;
    wait_text(c, "article.case", "下一步:县级审定").await; // not hers
    r.logout().await;

    // --- The county supervisor: his report covers the county; the case has passed 乡镇审核.
    r.login(SUPERVISOR).await;
    r.drill_down("凤庆县", "乡镇审核", "2-county").await;
    let members = text_of(&find(c, "#members").await).await;
    assert!(
        !members.contains(&case_head_id()),
        "the county supervisor reads masked IDs: {members}"
    );
    r.approve("县级审定", SUPERVISOR, "2-county").await;
    let next = text_of(&find(c, "form.decide").await).await;
    assert!(next.contains("公告"), "公告 is his next: {next}");
    // The conflict is not his to settle.
    c.goto(&format!("{}/households/{OTHER_HH}", r.base))
        .await
        .expect("open");
    wait_text(c, "#conflicts", "您的角色不能处理冲突").await;
    assert_eq!(count(c, "form.conflict button[type=submit]").await, 0);
    // His roster download masks IDs.
    let xlsx = r.download_roster(downloads.path(), "凤庆县").await;
    let rows = roster_rows(&xlsx);
    let masked = row_of(&rows, CASE_HEAD)
        .get("户主证件号码")
        .cloned()
        .unwrap_or_default();
    assert!(
        masked.contains('*') && masked != case_head_id(),
        "masked for the county: {masked}"
    );
    r.logout().await;

    // --- The township reviewer settles the conflict.
    r.login(REVIEWER).await;
    r.nav("/conflicts").await;
    let entries = c
        .find_all(Locator::Css("ul.cards li.card a"))
        .await
        .expect("entries");
    assert_eq!(entries.len(), 1, "one conflicted field");
    let entry = squash(&text_of(&entries[0]).await);
    assert!(
        entry.contains(OTHER_HEAD) && entry.contains("危房等级") && entry.contains("2个不同的值"),
        "{entry}"
    );
    r.snap("3-conflicts").await;
    entries[0].click().await.expect("follow the entry");
    wait_page(c, &format!("/households/{OTHER_HH}"), "").await;
    r.sound_page("/households/{id} with a conflict").await;
    r.settle("危房等级", "D级").await;
    r.nav("/conflicts").await;
    wait_text(c, "main", "没有待处理的冲突。").await;
    assert_eq!(count(c, "ul.cards li.card").await, 0);

    // --- Her roster download: both households, full IDs.
    let xlsx = r.download_roster(downloads.path(), "诗礼乡").await;
    r.snap("4-roster").await;
    let rows = roster_rows(&xlsx);
    assert_eq!(rows.len(), 2, "both households: {rows:?}");
    let head = row_of(&rows, CASE_HEAD);
    assert_eq!(head.get("户主证件号码"), Some(&case_head_id()), "{head:?}");
    assert_eq!(head.get("户编号").map(String::as_str), Some(CASE_NO));
    assert_eq!(head.get("家庭人口").map(String::as_str), Some("3"));
    assert_eq!(head.get("户状态").map(String::as_str), Some("未脱贫"));
    let other = row_of(&rows, OTHER_HEAD);
    assert_eq!(other.get("户编号").map(String::as_str), Some(OTHER_NO));
    assert_eq!(
        other.get("冲突").map(String::as_str),
        Some("0"),
        "{other:?}"
    );
    r.logout().await;
    let defects = std::mem::take(&mut r.defects);
    let browsed = started.elapsed() - seeded;
    browser.close().await;

    // --- What was decided reaches the phones on their next sync.
    s.li.sync().await;
    s.zhang.sync().await;
    let export = s.zhang.export().await;
    let household = |id: &str| {
        export
            .as_array()
            .and_then(|a| a.iter().find(|h| h["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} not exported"))
    };
    let case = &household(CASE_HH)["cases"][&s.case_id];
    let steps: Vec<(&str, &str)> = case["steps"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .map(|r| {
            (
                r["step"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for step in ["township_review", "county_decision"] {
        assert!(
            steps.contains(&(step, "passed")),
            "{step} reached the phone: {case}"
        );
    }
    assert_eq!(household(OTHER_HH)["living"]["house_grade"], "d");
    let show: Value =
        serde_json::from_str(&s.li.ok(&["--json", "show", OTHER_HH]).await).expect("show JSON");
    assert_eq!(show["conflicts"], json!([]), "{show}");
    s.server.kill().await;
    eprintln!(
        "{width}×{height}: seeding {:.1} s, browser {:.1} s, total {:.1} s",
        seeded.as_secs_f64(),
        browsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    no_defects(&defects, width, height);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisors_review_on_a_phone() {
    supervisors_review_in_a_browser(390, 844).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisors_review_on_a_desktop() {
    supervisors_review_in_a_browser(1280, 800).await;
}

// --- An exit decided with the evidence in front of the reviewer ---------------------------------

/// 三合村: the household leaving the roster, visited with a photo and the head's signature.
const EXIT_NO: &str = "530921100201007";
const EXIT_HH: &str = "hh-530921100201007";
/// Person 100 of the roster heads it.
const EXIT_HEAD: &str = "户主100";
/// 孔兴村: a 新识别 whose 公示 is still running.
const RUNNING_NO: &str = "530921100202007";
const RUNNING_HH: &str = "hh-530921100202007";
const WANG: &str = "wang";
const WANG_NAME: &str = "王审核";
const ZHAO: &str = "zhao";
const ZHAO_NAME: &str = "赵督查";
/// What the surveyor wrote at the visit, to find on the reviewer's page.
const VISIT_NOTES: &str = "入户核实务工收入,家中有存粮";

/// A county where a 脱贫退出 has finished its 公示: the household meets every criterion with a
/// 2020 income of 30,000 yuan for 3 (10,000 per person against the 4,000 line), and was
/// visited with a photo and the head's signature, all through a real client and a real sync;
/// two more households of 诗礼乡 for the spot checks.
async fn seed_exit() -> (TestDb, ServerProcess) {
    let db = TestDb::sqlite();
    let server = ServerProcess::start_with_users(&db.url, &[("zhang", "surveyor", SHILI)]).await;
    server
        .add_user(WANG, WANG_NAME, "township_reviewer", &[SHILI])
        .await;
    server
        .add_user(ZHAO, ZHAO_NAME, "county_supervisor", &[COUNTY])
        .await;
    let zhang = Device::enrolled(&server, "zhang").await;
    zhang
        .import_roster(&roster_csv(
            &[
                (EXIT_NO, "三合村", 3),
                (RUNNING_NO, "孔兴村", 2),
                ("530921100203007", "河平村", 2),
            ],
            100,
        ))
        .await;
    for hh in [EXIT_HH, RUNNING_HH] {
        zhang.ok(&["edit", hh, "info.status", "not_exited"]).await;
    }
    let export = zhang.export().await;
    let members: Vec<String> = exported_household(&export, EXIT_HH)["members"]
        .as_object()
        .expect("members")
        .keys()
        .cloned()
        .collect();

    let ui = ClientProcess::start(zhang.data.path()).await;
    ready_for_exit(&ui, EXIT_HH, &members).await;
    let case = propose_case(&ui, EXIT_HH, "exit", Some("application")).await;
    pass_steps_through(
        &ui,
        EXIT_HH,
        &case,
        "publicity",
        today(),
        (day(-10), day(-3)),
    )
    .await;
    let running = propose_case(&ui, RUNNING_HH, "new_entry", Some("screening")).await;
    pass_steps_through(
        &ui,
        RUNNING_HH,
        &running,
        "publicity",
        today(),
        (day(-2), day(3)),
    )
    .await;
    let http = reqwest::Client::new();
    let photo = upload(
        &http,
        &ui.url,
        "image/png",
        solid_png(64, 48, [90, 140, 60]),
    )
    .await;
    let signature = upload(&http, &ui.url, "image/png", solid_png(80, 30, [20, 20, 20])).await;
    post_visit(
        &http,
        &ui.url,
        EXIT_HH,
        &json!({
            "date": day(-12).to_string(), "visitor": "张调查", "mode": "in_person",
            "notes": VISIT_NOTES, "satisfaction": "satisfied",
            "photos": [photo["hash"]],
            "signatures": [{ "role": "head", "hash": signature["hash"] }],
        }),
    )
    .await;
    ui.kill().await;
    let sent = zhang.sync().await;
    assert_eq!(sent["accepted"], 3, "{sent}");
    assert_eq!(sent["attachments_uploaded"], 2, "{sent}");
    (db, server)
}

/// What a finger meets on the page: visible links and buttons under 44 px tall, images that did
/// not load, and where the sticky bar ends once the page has scrolled.
const TOUCH_FACTS: &str = r#"
    const small = [...document.querySelectorAll('a, button, input[type=radio], summary')]
      .filter(e => e.offsetParent !== null)
      .map(e => [e, e.closest('label') || e])
      .map(([e, target]) => ({ e, r: target.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height < 43.5)
      .map(({ e, r }) => (e.textContent.trim() || e.outerHTML.slice(0, 60)) + ' ' + Math.round(r.height) + 'px');
    const broken = [...document.querySelectorAll('img')]
      .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
    // A sticky bar with a negative top keeps only its last part in view once scrolled.
    const header = document.querySelector('header.top');
    const top = parseFloat(getComputedStyle(header).top) || 0;
    const bar = Math.round(header.getBoundingClientRect().height + Math.min(0, top));
    return { small, broken, bar };"#;

impl Review<'_> {
    /// The page as a finger meets it: on a phone no tap target under 44 px; on any screen every
    /// image loaded and, scrolled, the sticky bar under 10 % of an 844 px screen.
    async fn touchable(&mut self, what: &str) {
        self.sound_page(what).await;
        self.fits_a_finger(what).await;
    }

    /// [`Self::touchable`] but for [`Self::sound_page`]: of a page answered with an error
    /// status on purpose (a refused post shown again).
    async fn fits_a_finger(&mut self, what: &str) {
        let facts = self
            .c
            .execute(TOUCH_FACTS, vec![])
            .await
            .expect("touch facts");
        assert_eq!(
            facts["broken"],
            json!([]),
            "{what}: images not shown: {facts}"
        );
        if self.width < 600 {
            assert_eq!(
                facts["small"],
                json!([]),
                "{what}: tap targets under 44 px: {facts}"
            );
        }
        let bar = facts["bar"].as_i64().unwrap_or(i64::MAX);
        assert!(
            bar < 84,
            "{what}: the bar covers {bar} px once scrolled: {facts}"
        );
    }

    /// The household page's evidence of the exit: income, per capita against the line, the
    /// verdict, the visit with its photo and the head's signature, each loaded.
    async fn read_the_evidence(&mut self) {
        let c = self.c;
        let income = squash(&text_of(&find(c, "#income").await).await);
        for figure in [
            "工资性收入30000.00元",
            "人均纯收入10000.00元",
            "4000.00元/人·年",
        ] {
            assert!(income.contains(figure), "{figure} in {income}");
        }
        let verdict = text_of(&find(c, "#verdict").await).await;
        assert!(verdict.contains("各项均达标"), "{verdict}");
        for criterion in [
            "不愁吃",
            "义务教育有保障",
            "基本医疗有保障",
            "饮水安全",
            "收入达标",
        ] {
            assert!(verdict.contains(criterion), "{criterion} in {verdict}");
        }
        let visit = text_of(&find(c, "#visits article.visit").await).await;
        assert!(
            visit.contains(VISIT_NOTES) && visit.contains("满意") && visit.contains("入户"),
            "{visit}"
        );
        let loaded = c
            .execute(
                "return [...document.querySelectorAll('#visits img')]
                   .map(i => [i.alt, i.complete && i.naturalWidth > 0]);",
                vec![],
            )
            .await
            .expect("images");
        assert_eq!(loaded, json!([["照片", true], ["户主签名", true]]));
        self.snap("5-exit-evidence").await;
        find(c, "#visits").await;
        c.execute("document.querySelector('#visits').scrollIntoView()", vec![])
            .await
            .expect("scroll");
        self.snap("5-exit-visit").await;
        // Full size on tap: the image itself, for this session only.
        click(c, "#visits li.photo a").await;
        wait_url(c, &format!("/households/{EXIT_HH}/attachments/"), "", false).await;
        let kind = c
            .execute("return document.contentType;", vec![])
            .await
            .expect("photo page");
        assert_eq!(kind, "image/png");
        c.back().await.expect("back");
        wait_text(c, "main h1", EXIT_HEAD).await;
    }

    /// A 新识别 whose 公示 still runs: its form says from when 乡镇审核 may pass and offers
    /// only 退回 and 不通过 until then.
    async fn wait_for_the_running_publicity(&mut self) {
        let c = self.c;
        c.goto(&format!("{}/households/{RUNNING_HH}", self.base))
            .await
            .expect("the running case");
        let form = wait_text(c, "form.decide", "乡镇审核").await;
        assert!(form.contains("结束后可审核通过"), "{form}");
        assert_eq!(
            count(c, "form.decide input[value=passed]").await,
            0,
            "{form}"
        );
        assert_eq!(
            count(c, "form.decide input[name=outcome]").await,
            2,
            "{form}"
        );
        self.touchable("/households/{id} while its 公示 runs").await;
        self.snap("6-running-publicity").await;
    }

    /// Decides 乡镇审核: first 退回 without a reason (refused in place, the choice kept, the
    /// URL the household's), then 通过.
    async fn decide_the_exit(&mut self) {
        let c = self.c;
        let form = find(c, "form.decide").await;
        assert!(text_of(&form).await.contains("乡镇审核"));
        click_in(
            &form
                .find(Locator::XPath(".//label[input[@value='returned']]"))
                .await
                .expect("退回"),
            "input",
        )
        .await;
        click_in(&form, "button[type=submit]").await;
        let error = wait_text(c, "form.decide p.error", "须填写意见").await;
        let url = c.current_url().await.expect("url");
        assert_eq!(url.path(), format!("/households/{EXIT_HH}"), "{error}");
        let kept = c
            .execute(
                "return document.querySelector('form.decide input[name=outcome]:checked').value",
                vec![],
            )
            .await
            .expect("kept");
        assert_eq!(kept, "returned");
        self.fits_a_finger("a refused decision").await;
        self.snap("6-exit-refused").await;
        self.approve_on(EXIT_HH, "乡镇审核", WANG_NAME, "6-exit")
            .await;
    }

    /// The history reads as changes by people: the decision first, by name and role, in
    /// words; the visit's satisfaction found through the field filter.
    async fn read_the_history(&mut self) {
        let c = self.c;
        click(c, "#history summary").await;
        let newest = text_of(&find(c, "#history li.change").await).await;
        assert!(
            newest.contains("审核")
                && newest.contains("王审核(乡镇审核员)")
                && newest.contains("审核页面"),
            "{newest}"
        );
        assert!(
            newest.contains("乡镇审核") && newest.contains("通过"),
            "{newest}"
        );
        let all = text_of(&find(c, "#history").await).await;
        for raw in ["visits.", "cases.", "satisfied", "in_person"] {
            assert!(!all.contains(raw), "{raw} shows raw in the history: {all}");
        }
        let select = find(c, "#history select[name=field]").await;
        select
            .select_by_value("走访 · 满意度")
            .await
            .expect("the field");
        click(c, "#history form.filters button").await;
        wait_page(c, &format!("/households/{EXIT_HH}"), "field=").await;
        let only = text_of(&find(c, "#history ol.changes").await).await;
        assert!(
            only.contains("走访 · 满意度") && only.contains("满意"),
            "{only}"
        );
        assert_eq!(count(c, "#history ul.fields li").await, 1, "{only}");
        // The surveyor's phone by the name it was enrolled under, not its id.
        assert!(only.contains("设备「"), "{only}");
        self.touchable("/households/{id} history").await;
        c.execute(
            "document.querySelector('#history').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
        self.snap("6-exit-history").await;
    }
}

/// The spot-check list's rows, each as its text.
async fn spot_rows(c: &Client) -> Vec<String> {
    let mut rows = Vec::new();
    for li in c
        .find_all(Locator::Css("ul.spot li.card"))
        .await
        .expect("rows")
    {
        rows.push(text_of(&li).await);
    }
    rows
}

async fn a_reviewer_decides_an_exit_with_the_evidence(width: u32, height: u32) {
    let started = Instant::now();
    let (_db, server) = seed_exit().await;
    let seeded = started.elapsed();
    let downloads = tempfile::tempdir().expect("download dir");
    let browser = Browser::start_with_downloads(width, height, downloads.path()).await;
    let c = &browser.client;
    let mut r = Review {
        c,
        base: server.url.clone(),
        width,
        defects: Vec::new(),
    };

    // --- 王审核, township reviewer: from the report to the exit, its evidence, 乡镇审核.
    r.login_as(WANG, WANG_NAME).await;
    // A wide period: the case counts whatever day of the year the test runs.
    c.goto(&format!("{}/report?from=2000-01-01&to=2099-12-31", r.base))
        .await
        .expect("report");
    wait_text(c, "main h1", "诗礼乡").await;
    r.touchable("/report").await;
    if width < 600 {
        // Its columns scroll in their box; the row labels stay where they are.
        let moved = c
            .execute(
                "const box = document.querySelector('table.counts.wide').closest('.scroll');
                 box.scrollLeft = 300;
                 const label = box.querySelector('tbody tr > :first-child');
                 const shift = label.getBoundingClientRect().left - box.getBoundingClientRect().left;
                 const scrolled = box.scrollLeft;
                 box.scrollLeft = 0;
                 return [scrolled, Math.round(shift)];",
                vec![],
            )
            .await
            .expect("scroll the stages");
        assert!(
            moved[0].as_f64().unwrap_or(0.0) > 0.0,
            "the stages scroll: {moved}"
        );
        assert_eq!(moved[1], 0, "row labels stay in view: {moved}");
    }
    let cell = case_cell(c, "脱贫退出", "公示结束").await;
    assert_eq!(squash(&text_of(&cell).await), "1户3人");
    r.snap("5-exit-report").await;
    click_in(&cell, "a").await;
    wait_page(c, "/roster", "kind=exit").await;
    r.touchable("/roster").await;
    r.snap("5-exit-roster").await;
    if width >= 900 {
        // Sorted by a column, as a person does on a wide screen.
        click(c, "table.roster thead th:first-child a").await;
        wait_page(c, "/roster", "sort=name").await;
        r.touchable("/roster sorted").await;
    }
    let rows = r.roster_rows().await;
    assert_eq!(rows.len(), 1, "the exit alone");
    click_in(&rows[0], "a").await;
    wait_page(c, &format!("/households/{EXIT_HH}"), "").await;
    wait_text(c, "main h1", EXIT_HEAD).await;
    r.touchable("/households/{id}").await;
    r.read_the_evidence().await;
    r.wait_for_the_running_publicity().await;
    c.goto(&format!("{}/households/{EXIT_HH}", r.base))
        .await
        .expect("back to the exit");
    wait_text(c, "main h1", EXIT_HEAD).await;
    r.decide_the_exit().await;
    r.touchable("/households/{id} decided").await;
    r.read_the_history().await;
    r.logout().await;

    // --- 赵督查, county supervisor: the day's spot checks of 诗礼乡.
    r.login_as(ZHAO, ZHAO_NAME).await;
    r.nav("/checks").await;
    r.touchable("/checks").await;
    r.snap("7-checks").await;
    r.nav("/spot").await;
    click(c, "form.filters button[type=submit]").await;
    wait_page(c, "/spot", "township=").await;
    let rows = spot_rows(c).await;
    assert_eq!(
        rows.len(),
        3,
        "every household of a small township: {rows:?}"
    );
    let exit_row = rows
        .iter()
        .position(|t| t.contains(EXIT_HEAD))
        .unwrap_or_else(|| panic!("{EXIT_HEAD} in {rows:?}"));
    let row = &rows[exit_row];
    assert!(
        row.contains(EXIT_NO) && row.contains("三合村") && row.contains("抽取"),
        "head, 户编号, village and why: {row}"
    );
    assert_eq!(
        count(c, "ul.spot input[type=radio]:checked").await,
        0,
        "nothing preselected"
    );
    r.touchable("/spot").await;
    r.snap("7-spot").await;
    let li = c
        .find_all(Locator::Css("ul.spot li.card"))
        .await
        .expect("rows")
        .remove(exit_row);
    click_in(
        &li.find(Locator::XPath(".//label[input[@value='ok']]"))
            .await
            .expect("属实"),
        "input",
    )
    .await;
    let note = li
        .find(Locator::Css("input[name=note]"))
        .await
        .expect("note");
    note.send_keys("与户主核对一致").await.expect("type");
    click_in(&li, "button[type=submit]").await;
    // The same URL comes back: wait for what the post recorded.
    wait_text(c, "ul.spot", ZHAO_NAME).await;
    let row = spot_rows(c).await.remove(exit_row);
    assert!(
        row.contains("属实") && row.contains(ZHAO_NAME) && row.contains("与户主核对一致"),
        "the outcome and the checker by name: {row}"
    );
    r.touchable("/spot recorded").await;
    r.snap("7-spot-recorded").await;
    by_text(c, "p.actions a", "导出 Excel")
        .await
        .click()
        .await
        .expect("export");
    let file = wait_download(downloads.path(), &[]).await;
    let rows = roster_rows(&file);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let exported = row_of(&rows, EXIT_HEAD);
    assert_eq!(
        exported.get("户编号").map(String::as_str),
        Some(EXIT_NO),
        "{exported:?}"
    );
    assert_eq!(
        exported.get("抽查结果").map(String::as_str),
        Some("属实"),
        "{exported:?}"
    );
    assert_eq!(
        exported.get("核查人").map(String::as_str),
        Some(ZHAO_NAME),
        "{exported:?}"
    );
    r.logout().await;
    let defects = std::mem::take(&mut r.defects);
    browser.close().await;
    server.kill().await;
    eprintln!(
        "{width}×{height}: seeding {:.1} s, total {:.1} s",
        seeded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    no_defects(&defects, width, height);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_decides_an_exit_with_the_evidence_on_a_phone() {
    a_reviewer_decides_an_exit_with_the_evidence(390, 844).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_decides_an_exit_with_the_evidence_on_a_desktop() {
    a_reviewer_decides_an_exit_with_the_evidence(1280, 800).await;
}
