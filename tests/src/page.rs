//! What a person does on a page, for the browser stories: find, fill in, click.

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

/// The element `css` on the page; panics naming it when there is none.
pub async fn find(c: &Client, css: &str) -> Element {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Types `value` into the form field named `name`, replacing what it held.
pub async fn fill(c: &Client, name: &str, value: &str) {
    let el = find(c, &format!("[name=\"{name}\"]")).await;
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

/// Brings `el` to the middle of the screen, as a person scrolls to what they tap: where
/// chromedriver scrolls on its own, to the bottom edge, a sticky bar (the form's 上一步/下一步)
/// may cover it and take the click.
pub async fn scroll_to(c: &Client, el: &Element) {
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(el).expect("element")],
    )
    .await
    .expect("scroll");
}

/// Clicks the element `css` on the page (a button, a link).
pub async fn click(c: &Client, css: &str) {
    let el = find(c, css).await;
    scroll_to(c, &el).await;
    el.click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks the element `css` inside `el` (a form's submit button, a choice's radio).
pub async fn click_in(el: &Element, css: &str) {
    el.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Saves a screenshot as `name`.png when `ZOUFANG_SCREENSHOTS` names a directory (for a person
/// to look at).
pub async fn snap(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("ZOUFANG_SCREENSHOTS") {
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("write screenshot");
    }
}
