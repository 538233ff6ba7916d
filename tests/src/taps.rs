//! A surveyor's taps on the field client's pages, counted. One tap is: a click on a button,
//! link, tab or checkbox; focusing a field to type into it (the typing itself is not a tap);
//! a photo taken; one signature. A choice from a list (`select`) is two: open it, pick.
//! Also the page moves every flow needs: waiting for the next page, showing a form's step.

use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};

use crate::page::{find, scroll_to};

/// Counts the taps of one flow.
pub struct Taps<'a> {
    c: &'a Client,
    count: usize,
}

impl<'a> Taps<'a> {
    pub fn new(c: &'a Client) -> Self {
        Taps { c, count: 0 }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Taps the element `css` (scrolled into view first, as a thumb would).
    pub async fn tap(&mut self, css: &str) {
        let el = find(self.c, css).await;
        scroll_to(self.c, &el).await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("tap {css}: {e}"));
        self.count += 1;
    }

    /// Taps the field named `name` and types `value` into it (WebDriver's typing focuses the
    /// field as the tap does; a click before it made chromedriver's mobile emulation drop the
    /// keys now and then).
    pub async fn type_into(&mut self, name: &str, value: &str) {
        let el = find(self.c, &format!("[name=\"{name}\"]")).await;
        scroll_to(self.c, &el).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
        self.count += 1;
    }

    /// Opens the list `name` and picks `value`: two taps.
    pub async fn pick(&mut self, name: &str, value: &str) {
        let el = find(self.c, &format!("[name=\"{name}\"]")).await;
        scroll_to(self.c, &el).await;
        el.select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("pick {value} in {name}: {e}"));
        self.count += 2;
    }

    /// Takes a photo: the camera input `css` receives the file at `path`.
    pub async fn photo(&mut self, css: &str, path: &std::path::Path) {
        find(self.c, css)
            .await
            .send_keys(&path.display().to_string())
            .await
            .expect("take a photo");
        self.count += 1;
    }

    /// Signs on the pad `css` (a canvas) in one stroke.
    pub async fn sign(&mut self, css: &str) {
        sign(self.c, css).await;
        self.count += 1;
    }
}

/// One pen stroke across the signature pad `css`.
pub async fn sign(c: &Client, css: &str) {
    let pad = find(c, css).await;
    scroll_to(c, &pad).await;
    let stroke = MouseActions::new("pen".into())
        .then(PointerAction::MoveToElement {
            element: pad,
            duration: None,
            x: -100.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(100)),
            x: 60.0,
            y: 20.0,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(100)),
            x: 60.0,
            y: -25.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(stroke).await.expect("sign");
}

/// Waits until the page's path differs from `before` and starts with `prefix`; returns it.
pub async fn wait_path(c: &Client, before: &str, prefix: &str) -> String {
    for _ in 0..100 {
        let path = c.current_url().await.expect("url").path().to_owned();
        if path != before && path.starts_with(prefix) {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never left {before} for {prefix}");
}

/// The page's path now.
pub async fn path(c: &Client) -> String {
    c.current_url().await.expect("url").path().to_owned()
}

/// Shows the step of the household form that holds `css`, as tapping its tab does (not
/// counted: for flows that are not about taps). No-op outside a stepped form.
pub async fn show_step_of(c: &Client, css: &str) {
    c.execute(
        "const el = document.querySelector(arguments[0]);
         const step = el && el.closest('section.step');
         if (step && step.hidden) {
           document.querySelector(`.step-tab[data-goto='${step.dataset.step}']`).click();
         }
         if (el) el.scrollIntoView({block: 'center'});",
        vec![serde_json::json!(css)],
    )
    .await
    .expect("show step");
}

/// Waits until the page has put back the form's draft (or found none).
pub async fn wait_restored(c: &Client) {
    wait_attribute(c, "restored", "1").await;
}

/// Waits until what was typed is kept as the form's draft (`saved` in the store, `held` in
/// memory while locked).
pub async fn wait_draft(c: &Client, state: &str) {
    wait_attribute(c, "draft", state).await;
}

async fn wait_attribute(c: &Client, key: &str, want: &str) {
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        last = c
            .execute(
                "return document.documentElement.dataset[arguments[0]] || null;",
                vec![serde_json::json!(key)],
            )
            .await
            .expect("script");
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("data-{key} never became {want:?}; last {last}");
}

/// The value of the form field `name` as the page holds it (on any step).
pub async fn value_of(c: &Client, name: &str) -> String {
    c.find(Locator::Css(&format!("[name=\"{name}\"]")))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}
