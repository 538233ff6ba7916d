//! The field client in a real phone-sized browser: create a household, record a visit with a
//! photo and a signature, be refused an exit the rules reject, fix the cause, and find it all
//! again after the client process is killed and restarted.

use fantoccini::{Client, Locator};
use zoufang_e2e::page::{self, click, find, snap};
use zoufang_e2e::taps::{show_step_of, sign, wait_path};
use zoufang_e2e::{Browser, ClientProcess, Device, wait_text};
use zoufang_shared::demo::id_number;

/// The form field `name`, its step of the household form shown first.
async fn field(c: &Client, name: &str) -> fantoccini::elements::Element {
    let css = format!("[name=\"{name}\"]");
    show_step_of(c, &css).await;
    find(c, &css).await
}

async fn fill(c: &Client, name: &str, value: &str) {
    show_step_of(c, &format!("[name=\"{name}\"]")).await;
    page::fill(c, name, value).await;
}

/// Waits until `css` (on whichever step of the form holds it) says `needle`.
async fn shows(c: &Client, css: &str, needle: &str) -> String {
    show_step_of(c, css).await;
    wait_text(c, css, needle).await
}

async fn choose(c: &Client, name: &str, value: &str) {
    field(c, name)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("select {value} in {name}: {e}"));
}

async fn check(c: &Client, name: &str) {
    let el = field(c, name).await;
    if el.prop("checked").await.expect("checked").as_deref() != Some("true") {
        el.click().await.expect("click");
    }
}

/// Submits the form and waits for the page it leads to, whose path starts with `prefix`.
async fn submit_and_follow(c: &Client, form: &str, prefix: &str) -> String {
    let before = c.current_url().await.expect("url").path().to_owned();
    submit(c, form).await;
    wait_path(c, &before, prefix).await
}

async fn submit(c: &Client, form: &str) {
    let css = format!("#{form} button[type=submit]");
    show_step_of(c, &css).await;
    click(c, &css).await;
}

/// No element may stick out sideways at a phone's width.
async fn assert_no_horizontal_scroll(c: &Client) {
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(fits, serde_json::Value::Bool(true), "page scrolls sideways");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surveyor_captures_a_household_offline_and_it_survives_a_crash() {
    let data = Device::initialised("u-zhang", "张调查").await.data;
    // The county's standards table for this year (the built-in one has no line for it).
    let year = chrono::Datelike::year(&chrono::Local::now().date_naive());
    std::fs::write(
        data.path().join("standards.json"),
        format!(
            r#"[{{"year": {year}, "level": "national", "kind": "poverty_line",
                 "amount_yuan": 4000, "source": "测试数据"}}]"#
        ),
    )
    .expect("standards");

    let client = ClientProcess::start(data.path()).await;
    let browser = Browser::start(390, 844).await;
    let c = &browser.client;

    // --- A new household of three, with a C-grade house.
    c.goto(&format!("{}/h/new", client.url))
        .await
        .expect("open form");
    assert_no_horizontal_scroll(c).await;
    fill(c, "info.household_no", "530921100501").await;
    fill(c, "info.province", "云南省").await;
    fill(c, "info.township", "诗礼乡").await;
    fill(c, "info.village", "三合村").await;
    choose(c, "info.status", "not_exited").await;
    let people = [
        (
            "new1",
            "李大山",
            "head",
            "male",
            id_number("19700312", "011"),
            Some("junior"),
            None,
        ),
        (
            "new2",
            "王秀英",
            "spouse",
            "female",
            id_number("19720801", "022"),
            Some("primary"),
            None,
        ),
        (
            "new3",
            "李小明",
            "son",
            "male",
            id_number("20120905", "031"),
            None,
            Some("junior"),
        ),
    ];
    for (key, name, relation, sex, id, education, school) in &people {
        show_step_of(c, "#add-member").await;
        click(c, "#add-member").await;
        fill(c, &format!("m.{key}.name"), name).await;
        choose(c, &format!("m.{key}.relation"), relation).await;
        choose(c, &format!("m.{key}.sex"), sex).await;
        fill(c, &format!("m.{key}.id_number"), id).await;
        if let Some(e) = education {
            choose(c, &format!("m.{key}.education"), e).await;
        }
        if let Some(s) = school {
            choose(c, &format!("m.{key}.school"), s).await;
        }
        check(c, &format!("m.{key}.medical_insurance")).await;
    }
    fill(c, "income.wage", "30000").await;
    fill(c, "income.production_cost", "600").await;
    choose(c, "living.house_grade", "c").await;
    fill(c, "water.litres_per_person_day", "60").await;
    fill(c, "water.trip_minutes", "5").await;
    fill(c, "water.cut_days_per_year", "0").await;
    choose(c, "water.quality_tested", "true").await;
    choose(c, "info.food_secure", "true").await;
    choose(c, "info.clothing_secure", "true").await;
    // The per-capita figure and the verdict follow the form as it is typed.
    shows(c, "#per-capita-live", "9800.00").await;
    let verdict = shows(c, "#verdict", "住房安全有保障").await;
    assert!(verdict.contains("未达标"), "{verdict}");
    snap(c, "1-form-verdict").await;
    assert_no_horizontal_scroll(c).await;
    let household = submit_and_follow(c, "household-form", "/h/").await;
    wait_text(c, "main", "家庭成员(3 人)").await;
    wait_text(c, "#members", "李小明").await;

    // --- A visit with a photo and the head's signature.
    c.goto(&format!("{}{household}/visit", client.url))
        .await
        .expect("visit form");
    assert_no_horizontal_scroll(c).await;
    let shot = c.screenshot().await.expect("a picture to upload");
    let photo = data.path().join("camera.png");
    std::fs::write(&photo, &shot).expect("photo file");
    field(c, "notes").await; // the form is there
    c.find(Locator::Id("v-photo"))
        .await
        .expect("photo input")
        .send_keys(&photo.display().to_string())
        .await
        .expect("choose photo");
    c.wait()
        .for_element(Locator::Css("#photo-thumbs img"))
        .await
        .expect("thumbnail after upload");
    sign(c, ".signature[data-role=head] canvas").await;
    fill(c, "notes", "户主在家,核实了务工收入,房屋有裂缝。").await;
    snap(c, "2-visit").await;
    choose(c, "satisfaction", "satisfied").await;
    submit_and_follow(c, "visit-form", &household).await;
    wait_text(c, "#visits", "户主在家,核实了务工收入").await;
    let images = c
        .find_all(Locator::Css("#visits img"))
        .await
        .expect("images");
    assert_eq!(images.len(), 2, "one photo and one signature");
    // What syncs is a JPEG of at most 1600 px on its long side.
    let sizes = c
        .execute_async(
            r#"const done = arguments[0];
               const imgs = [...document.querySelectorAll('#visits img')];
               Promise.all(imgs.map(async (img) => {
                 const res = await fetch(img.src);
                 await img.decode();
                 return [res.headers.get('content-type'), img.naturalWidth, img.naturalHeight];
               })).then(done);"#,
            vec![],
        )
        .await
        .expect("image facts");
    let sizes = sizes.as_array().expect("array").clone();
    let photo_facts = sizes
        .iter()
        .find(|s| s[0] == "image/jpeg")
        .expect("the photo is stored as JPEG");
    let (w, h) = (
        photo_facts[1].as_u64().unwrap_or(0),
        photo_facts[2].as_u64().unwrap_or(0),
    );
    assert_eq!(
        w.max(h),
        1600,
        "downscaled to 1600 px (was {}x{} css px at 3x)",
        390,
        844
    );
    assert!(
        sizes.iter().any(|s| s[0] == "image/png"),
        "the signature is a PNG"
    );

    // --- An exit the rules reject, with the reason shown.
    c.goto(&format!("{}{household}/case/new", client.url))
        .await
        .expect("case form");
    choose(c, "kind", "exit").await;
    fill(c, "reason", "收入稳定超过标准").await;
    submit(c, "case-form").await;
    wait_text(c, "#case-form .form-error", "不符合脱贫退出条件").await;
    let reasons = wait_text(c, "#case-failures", "住房安全有保障").await;
    assert!(reasons.contains("C级"), "{reasons}");
    snap(c, "3-exit-refused").await;

    // --- Fix the cause: the house was renovated. The verdict changes as it is chosen.
    c.goto(&format!("{}{household}/edit", client.url))
        .await
        .expect("edit");
    shows(c, "#verdict", "住房安全有保障").await;
    choose(c, "living.house_renovated", "true").await;
    shows(c, "#verdict", "✓ 符合").await;
    submit_and_follow(c, "household-form", &household).await;
    wait_text(c, "#verdict", "✓ 符合").await;
    c.goto(&format!("{}{household}/case/new", client.url))
        .await
        .expect("case form");
    choose(c, "kind", "exit").await;
    submit_and_follow(c, "case-form", &format!("{household}/case/")).await;
    wait_text(c, "#case-stage", "已提出").await;

    // --- Kill the client outright and start it again: everything is still there.
    client.kill().await;
    let client = ClientProcess::start(data.path()).await;
    c.goto(&format!("{}{household}", client.url))
        .await
        .expect("reopen");
    wait_text(c, "main", "家庭成员(3 人)").await;
    wait_text(c, "#visits", "户主在家,核实了务工收入").await;
    wait_text(c, "#verdict", "✓ 符合").await;
    wait_text(c, "#cases", "脱贫退出").await;
    snap(c, "4-after-restart").await;
    assert_eq!(
        c.find_all(Locator::Css("#visits img"))
            .await
            .expect("images")
            .len(),
        2
    );
    assert_no_horizontal_scroll(c).await;
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_small_phone() {
    let data = tempfile::tempdir().expect("data dir");
    let client = ClientProcess::start_with(data.path(), &["--demo"]).await;
    let browser = Browser::start(360, 640).await;
    let c = &browser.client;
    // A case with a step, so the case page has something to lay out.
    c.goto(&format!("{}/h/demo-00/case/new", client.url))
        .await
        .expect("case form");
    choose(c, "kind", "relapse").await;
    fill(c, "reason", "家中有人患大病,医疗支出大").await;
    let case = submit_and_follow(c, "case-form", "/h/demo-00/case/").await;
    for path in [
        "/".to_owned(),
        "/?q=大山&village=三合村".to_owned(),
        "/h/demo-00".to_owned(),
        "/h/demo-01/edit".to_owned(),
        "/h/new".to_owned(),
        "/h/demo-00/visit".to_owned(),
        "/h/demo-00/case/new".to_owned(),
        case,
        "/h/no-such-household".to_owned(),
    ] {
        c.goto(&format!("{}{path}", client.url))
            .await
            .expect("open");
        assert_no_horizontal_scroll(c).await;
        // Touch targets: buttons and inputs at least 40 CSS pixels high.
        let small = c
            .execute(
                "return [...document.querySelectorAll('button, select, input[type=text], \
                 input[type=number], input[type=date], input[type=search]')]
                   .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 40)
                   .map(e => e.name || e.id || e.textContent).slice(0, 5);",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(small, serde_json::json!([]), "{path}: small touch targets");
    }
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_button_syncs_and_shows_progress() {
    use zoufang_e2e::{ServerProcess, TestDb};
    let db = TestDb::sqlite();
    let (server, phone) = ServerProcess::start_with_surveyor(&db.url, &["530921100"]).await;
    server
        .add_user("li", "李调查", "surveyor", &["530921100"])
        .await;
    let other = Device::enrolled(&server, "li").await;
    let csv = phone.data.path().join("roster.csv");
    std::fs::write(
        &csv,
        format!(
            "户编号,村,姓名,与户主关系,证件号码\n530921100201009,三合村,杨大山,户主,{}\n",
            id_number("19700312", "011")
        ),
    )
    .expect("csv");
    phone.ok(&["import", &csv.display().to_string()]).await;

    let ui = ClientProcess::start(phone.data.path()).await;
    let browser = Browser::start(390, 844).await;
    let c = &browser.client;
    c.goto(&format!("{}/sync", ui.url))
        .await
        .expect("sync page");
    wait_text(c, "#sync-pending", "待上传:1 户").await;
    click(c, "#sync-start").await;
    let shown = wait_text(c, "#sync-progress", "同步完成").await;
    assert!(shown.contains("上传 1 户"), "{shown}");
    snap(c, "5-sync").await;
    c.refresh().await.expect("reload");
    wait_text(c, "#sync-pending", "待上传:0 户").await;
    browser.close().await;
    ui.kill().await;

    // The other device receives what the button sent.
    let got = other.sync().await;
    assert!(got["pulled_changes"].as_u64().unwrap_or(0) >= 1, "{got}");
    let names = other.ok(&["list"]).await;
    assert!(names.contains("杨大山"), "{names}");
    server.kill().await;
}

/// The UI as a user starts it (no passphrase in the environment): locked. A wrong PIN says so
/// on the unlock page; the right one opens the list; 锁定 closes it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_starts_locked_and_opens_with_the_right_pin() {
    use zoufang_e2e::TEST_PASSPHRASE;
    let data = Device::initialised("zhang", "张调查").await.data;
    let client = ClientProcess::start_locked(data.path(), &["--demo"]).await;
    let browser = Browser::start(360, 640).await;
    let c = &browser.client;

    c.goto(&format!("{}/h/demo-00", client.url))
        .await
        .expect("open");
    wait_text(c, "h1", "解锁").await;
    assert_eq!(c.current_url().await.expect("url").path(), "/unlock");
    assert_no_horizontal_scroll(c).await;

    fill(c, "passphrase", "000000").await;
    click(c, "#unlock").await;
    wait_text(c, "#unlock-error", "口令错误").await;
    snap(c, "6-unlock-wrong-pin").await;

    fill(c, "passphrase", TEST_PASSPHRASE).await;
    click(c, "#unlock").await;
    // Back to the page that was asked for.
    wait_text(c, "main", "三合村").await;
    assert_eq!(c.current_url().await.expect("url").path(), "/h/demo-00");
    wait_text(c, "header", "张调查").await;

    click(c, "form.lock button").await;
    wait_text(c, "h1", "解锁").await;
    c.goto(&format!("{}/", client.url)).await.expect("list");
    wait_text(c, "h1", "解锁").await;
    browser.close().await;
    client.kill().await;
}
