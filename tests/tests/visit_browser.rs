//! The surveyor's visit on a phone (390×844): a standard visit in at most 25 taps, typed work
//! that survives auto-lock and a killed client, an empty household refused at its fields, a sync
//! against a server that is down said in Chinese, and the form's first screen quick on a slow
//! phone. No assertion compares a date: the pages' dates come from the device's clock and zone.

use std::time::Duration;

use serde_json::{Value, json};
use zoufang_e2e::page::{click, fill, snap};
use zoufang_e2e::survey::{exit_ready_form, save_form};
use zoufang_e2e::taps::{
    Taps, path, show_step_of, sign, value_of, wait_draft, wait_path, wait_restored,
};
use zoufang_e2e::{
    Browser, ClientProcess, Device, ServerProcess, TEST_PASSPHRASE, TestDb, wait_text,
};
use zoufang_shared::demo::id_number;

const WIDTH: u32 = 390;
const HEIGHT: u32 = 844;
/// The year of the household's income: a year of the built-in standards table (4000 元), so
/// that the verdict does not depend on the day the test runs.
const INCOME_YEAR: i32 = 2020;
/// The auto-lock of the lock stories: short, with room for a loaded CI machine between the
/// requests a person's typing makes.
const LOCK_AFTER: &str = "5s";

/// A household on the device as a synced roster brings it: 李大山 alone, not exited, income
/// below the line and a C-grade house, everything else meeting the exit rules. Returns its id.
async fn household_to_visit(http: &reqwest::Client, client: &ClientProcess) -> String {
    let ui = &client.url;
    let created: Value = http
        .post(format!("{ui}/api/households"))
        .json(&json!({
            "info.household_no": "530921100501",
            "info.township": "诗礼乡",
            "info.village": "三合村",
            "info.status": "not_exited",
            "m.k1.name": "李大山",
            "m.k1.relation": "head",
            "m.k1.sex": "male",
            "m.k1.id_number": id_number("19700312", "011"),
            "m.k1.medical_insurance": "true",
        }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    let id = created["redirect"]
        .as_str()
        .and_then(|r| r.strip_prefix("/h/"))
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let mut form = exit_ready_form(INCOME_YEAR, "1000");
    form["living.house_grade"] = json!("c");
    save_form(http, client, &id, &form).await;
    id
}

async fn phone() -> Browser {
    Browser::start(WIDTH, HEIGHT).await
}

/// A device with [`household_to_visit`] on it (its id), its UI, and a phone.
async fn a_household_on_a_phone() -> (Device, ClientProcess, String, Browser) {
    a_household_on_a_phone_with(&[]).await
}

/// [`a_household_on_a_phone`], its UI served with `serve_args`.
async fn a_household_on_a_phone_with(
    serve_args: &[&str],
) -> (Device, ClientProcess, String, Browser) {
    // The phone first: a client with an auto-lock starts its clock at once, and Chromium's start
    // on a loaded machine could otherwise use up the whole window.
    let browser = phone().await;
    let device = Device::initialised("u-zhang", "张调查").await;
    let client = ClientProcess::start_with(device.data.path(), serve_args).await;
    let id = household_to_visit(&reqwest::Client::new(), &client).await;
    (device, client, id, browser)
}

/// A device with its UI (`serve` with `serve_args`) and a phone showing its new-household form.
async fn new_household_form(serve_args: &[&str]) -> (Device, ClientProcess, Browser) {
    // The phone first, as in [`a_household_on_a_phone_with`].
    let browser = phone().await;
    let device = Device::initialised("u-zhang", "张调查").await;
    let client = ClientProcess::start_with(device.data.path(), serve_args).await;
    open_new_form(&browser.client, &client).await;
    (device, client, browser)
}

async fn open_new_form(c: &fantoccini::Client, client: &ClientProcess) {
    c.goto(&format!("{}/h/new", client.url))
        .await
        .expect("form");
    wait_restored(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_visit_takes_at_most_25_taps() {
    let (device, client, id, browser) = a_household_on_a_phone().await;
    let c = &browser.client;
    let mut taps = Taps::new(c);

    c.goto(&format!("{}/", client.url)).await.expect("list");
    snap(c, "visit-01-list").await;
    taps.tap(&format!("a[href=\"/h/{id}\"]")).await;
    wait_path(c, "/", "/h/").await;
    taps.tap(&format!("a[href=\"/h/{id}/edit\"]")).await;
    wait_path(c, &format!("/h/{id}"), &format!("/h/{id}/edit")).await;
    wait_restored(c).await;
    snap(c, "visit-02-step-basic").await;

    // One new member: relation and ID number first; sex comes from the ID.
    taps.tap(".step-tab[data-goto=members]").await;
    taps.tap("#add-member").await;
    taps.pick("m.new1.relation", "spouse").await;
    taps.type_into("m.new1.id_number", &id_number("19720801", "022"))
        .await;
    taps.type_into("m.new1.name", "王秀英").await;
    taps.tap("[name=\"m.new1.medical_insurance\"]").await;
    assert_eq!(value_of(c, "m.new1.sex").await, "female", "sex from the ID");
    snap(c, "visit-03-step-member").await;

    taps.tap(".step-tab[data-goto=income]").await;
    taps.type_into("income.wage", "20000").await;
    wait_text(c, "#per-capita-live", "10000.00").await;
    snap(c, "visit-04-step-income").await;

    taps.tap(".step-tab[data-goto=living]").await;
    taps.pick("living.house_grade", "b").await;
    snap(c, "visit-05-step-living").await;

    taps.tap(".step-tab[data-goto=review]").await;
    let summary = wait_text(c, "#summary", "王秀英").await;
    assert!(summary.contains("20000"), "{summary}");
    wait_text(c, "#verdict", "✓ 符合").await;
    snap(c, "visit-06-step-review").await;
    taps.tap("#household-form button[data-then=visit]").await;
    wait_path(c, &format!("/h/{id}/edit"), &format!("/h/{id}/visit")).await;
    wait_restored(c).await;

    // The visit: a photo and two signatures.
    snap(c, "visit-07-visit-top").await;
    let photo = take_photo(c, &device).await;
    taps.photo("#v-photo", &photo).await;
    wait_thumbnail(c).await;
    taps.sign(".signature[data-role=head] canvas").await;
    taps.sign(".signature[data-role=surveyor] canvas").await;
    snap(c, "visit-07-visit-signed").await;
    taps.tap("#visit-form button[type=submit]").await;
    wait_path(c, &format!("/h/{id}/visit"), &format!("/h/{id}")).await;
    let visits = wait_text(c, "#visits", "入户").await;
    assert!(visits.contains("张调查"), "{visits}");
    for who in ["户主签名", "调查人签名"] {
        assert!(
            visits.contains(who),
            "{who} shown with its signature: {visits}"
        );
    }
    show_step_of(c, "#visits").await; // scrolls to it
    snap(c, "visit-08-household-visits").await;

    // The exit proposal.
    taps.tap(&format!("a[href=\"/h/{id}/case/new\"]")).await;
    wait_path(c, &format!("/h/{id}"), &format!("/h/{id}/case/new")).await;
    wait_restored(c).await;
    taps.pick("kind", "exit").await;
    snap(c, "visit-09-case-form").await;
    taps.tap("#case-form button[type=submit]").await;
    wait_path(c, &format!("/h/{id}/case/new"), &format!("/h/{id}/case/")).await;
    wait_text(c, "#case-stage", "已提出").await;
    snap(c, "visit-10-case").await;

    println!("a standard visit took {} taps", taps.count());
    assert!(taps.count() <= 25, "{} taps", taps.count());
    browser.close().await;
    client.kill().await;
}

/// Waits (up to a generous 30 s) until the UI has locked itself.
async fn wait_locked(client: &ClientProcess) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    for _ in 0..300 {
        let page = http
            .get(format!("{}/unlock", client.url))
            .send()
            .await
            .expect("unlock page");
        if page.status().is_success() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the UI never locked itself");
}

/// Types into every step it visits of a new household's form.
async fn type_a_new_household(c: &fantoccini::Client) -> Vec<(&'static str, String)> {
    let values = vec![
        ("info.household_no", "530921100777".to_owned()),
        ("info.village", "孔兴村".to_owned()),
        ("m.new1.id_number", id_number("19800101", "011")),
        ("m.new1.name", "杨二山".to_owned()),
        ("income.wage", "12345".to_owned()),
    ];
    for (name, value) in &values {
        if name.starts_with("m.new1")
            && c.find(fantoccini::Locator::Css("[data-member=new1]"))
                .await
                .is_err()
        {
            show_step_of(c, "#add-member").await;
            click(c, "#add-member").await;
        }
        show_step_of(c, &format!("[name=\"{name}\"]")).await;
        fill(c, name, value).await;
    }
    values
}

async fn assert_values(c: &fantoccini::Client, values: &[(&str, String)]) {
    for (name, value) in values {
        assert_eq!(&value_of(c, name).await, value, "{name} is back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_work_survives_the_auto_lock() {
    let (_device, client, browser) = new_household_form(&["--lock-after", LOCK_AFTER]).await;
    let c = &browser.client;
    let mut values = type_a_new_household(c).await;
    wait_draft(c, "saved").await;

    // Idle: the lock strikes after LOCK_AFTER without a request. Asking the unlock page does not count
    // as use: it answers 200 once locked (before, it sends the browser home).
    wait_locked(&client).await;
    let locked = reqwest::get(format!("{}/api/csrf", client.url))
        .await
        .expect("ask");
    assert_eq!(locked.status().as_u16(), 423, "locked");

    // Typing on after the lock: kept in the client's memory until the unlock.
    show_step_of(c, "[name=\"info.phone\"]").await;
    fill(c, "info.phone", "13800001111").await;
    values.push(("info.phone", "13800001111".to_owned()));
    wait_draft(c, "held").await;
    snap(c, "visit-11-locked-mid-form").await;

    show_step_of(c, "#household-form button[type=submit]").await;
    click(c, "#household-form button[type=submit]").await;
    wait_path(c, "/h/new", "/unlock").await;
    wait_text(c, "#unlock-return", "自动恢复").await;
    snap(c, "visit-12-unlock-returns").await;
    fill(c, "passphrase", TEST_PASSPHRASE).await;
    click(c, "#unlock").await;
    wait_path(c, "/unlock", "/h/new").await;
    wait_restored(c).await;
    assert_values(c, &values).await;
    wait_text(c, "#draft-note", "已恢复").await;
    snap(c, "visit-13-draft-restored").await;
    browser.close().await;
    client.kill().await;
}

/// A photo taken with the phone: the screen as it is now, written where the browser reads it.
async fn take_photo(c: &fantoccini::Client, device: &Device) -> std::path::PathBuf {
    let photo = device.data.path().join("camera.png");
    std::fs::write(&photo, c.screenshot().await.expect("a picture")).expect("photo file");
    photo
}

async fn wait_thumbnail(c: &fantoccini::Client) {
    c.wait()
        .for_element(fantoccini::Locator::Css("#photo-thumbs img"))
        .await
        .expect("thumbnail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_done_visit_survives_the_auto_lock() {
    let (device, client, id, browser) =
        a_household_on_a_phone_with(&["--lock-after", LOCK_AFTER]).await;
    let c = &browser.client;
    let visit = format!("/h/{id}/visit");
    c.goto(&format!("{}{visit}", client.url))
        .await
        .expect("visit form");
    wait_restored(c).await;
    let photo = take_photo(c, &device).await;
    // Not a counted task: the photo is taken as the 25-tap visit takes it.
    Taps::new(c).photo("#v-photo", &photo).await;
    wait_thumbnail(c).await;
    fill(c, "notes", "户主在家,房屋已修缮").await;
    sign(c, ".signature[data-role=head] canvas").await;
    wait_draft(c, "saved").await;

    // The surveyor looks away; the phone locks. Saving now meets the lock while the signature
    // is stored: the page keeps everything and asks for the passphrase.
    wait_locked(&client).await;
    show_step_of(c, "#visit-form button[type=submit]").await;
    click(c, "#visit-form button[type=submit]").await;
    wait_path(c, &visit, "/unlock").await;
    fill(c, "passphrase", TEST_PASSPHRASE).await;
    click(c, "#unlock").await;
    wait_path(c, "/unlock", &visit).await;
    wait_restored(c).await;
    assert_eq!(value_of(c, "notes").await, "户主在家,房屋已修缮");
    wait_thumbnail(c).await;
    let signed = c
        .execute(
            "return document.querySelector('.signature[data-role=head]').dataset.signed;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(signed, "1", "the head's signature is back");
    snap(c, "visit-16-visit-restored").await;

    // Saved as it was meant to be: the photo and the signature with it.
    show_step_of(c, "#visit-form button[type=submit]").await;
    click(c, "#visit-form button[type=submit]").await;
    wait_path(c, &visit, &format!("/h/{id}")).await;
    let visits = wait_text(c, "#visits", "户主签名").await;
    assert!(visits.contains("房屋已修缮"), "{visits}");
    let pictures = c
        .execute(
            "return document.querySelectorAll('#visits li:first-child img').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(pictures, 2, "the photo and the signature");
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_keeps_the_draft() {
    let (device, client, browser) = new_household_form(&[]).await;
    let c = &browser.client;
    let values = type_a_new_household(c).await;
    wait_draft(c, "saved").await;

    // The battery dies: no chance to flush anything.
    client.kill().await;
    let client = ClientProcess::start(device.data.path()).await;
    open_new_form(c, &client).await;
    assert_values(c, &values).await;
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_household_is_refused_at_its_fields() {
    let (device, client, browser) = new_household_form(&[]).await;
    let c = &browser.client;
    show_step_of(c, "#household-form button[type=submit]").await;
    click(c, "#household-form button[type=submit]").await;
    // The first error's step comes up with the message at its field.
    wait_text(c, "[data-err-for=\"info.village\"]", "请选择村").await;
    wait_text(c, ".form-error", "表单有错误").await;
    snap(c, "visit-14-empty-refused").await;
    show_step_of(c, "[data-err-for=members]").await;
    wait_text(c, "[data-err-for=members]", "请至少添加一名成员").await;
    assert_eq!(path(c).await, "/h/new", "still on the form");
    let listed = device.ok(&["list", "--json"]).await;
    assert_eq!(listed.trim(), "[]", "nothing was created: {listed}");
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_against_a_stopped_server_says_what_to_do() {
    let db = TestDb::sqlite();
    let (server, device) = ServerProcess::start_with_surveyor(&db.url, &["530921100"]).await;
    server.kill().await;
    let client = ClientProcess::start(device.data.path()).await;
    let browser = phone().await;
    let c = &browser.client;
    c.goto(&format!("{}/sync", client.url))
        .await
        .expect("sync page");
    click(c, "#sync-start").await;
    let shown = wait_text(
        c,
        "#sync-progress",
        "连不上服务器:请确认已连上乡镇网络后重试",
    )
    .await;
    assert!(!shown.contains("error sending request"), "{shown}");
    assert!(shown.contains("可再次同步"), "{shown}");
    snap(c, "visit-15-sync-offline").await;
    browser.close().await;
    client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_is_ready_quickly_on_a_slow_phone() {
    let (_device, client, id, browser) = a_household_on_a_phone().await;
    let c = &browser.client;
    // The assets are cached after the first page, as on a phone in daily use.
    c.goto(&format!("{}/", client.url)).await.expect("list");
    browser
        .cdp("Emulation.setCPUThrottlingRate", json!({ "rate": 4 }))
        .await;
    c.goto(&format!("{}/h/{id}/edit", client.url))
        .await
        .expect("form");
    let ready = c
        .execute(
            "return Number(document.documentElement.dataset.ready || NaN);",
            vec![],
        )
        .await
        .expect("script");
    let ms = ready.as_f64().unwrap_or(f64::NAN);
    println!(
        "the household form's first screen was interactive after {ms:.0} ms (CPU throttled 4x)"
    );
    assert!(ms.is_finite(), "the page never said it was ready: {ready}");
    assert!(ms < 5000.0, "{ms} ms");
    browser.close().await;
    client.kill().await;
}
