//! The login form.

use maud::{Markup, html};

use super::layout::layout;

/// `csrf`: the login form's anti-forgery token (`session`), paired with its cookie.
pub fn login_page(error: Option<&str>, csrf: Option<&str>) -> Markup {
    layout(
        None,
        "登录",
        html! {
            h1 { "登录" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.stack method="post" action="/login" {
                @if let Some(token) = csrf { input type="hidden" name="csrf" value=(token); }
                label { "用户名" input type="text" name="username" autocomplete="username" required; }
                label { "密码" input type="password" name="password" autocomplete="current-password" required; }
                button.primary type="submit" { "登录" }
            }
        },
    )
}
