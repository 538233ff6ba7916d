//! What keeps other web sites out of this UI (see the notes of `web`): the `Host` and origin
//! checks every request passes, and the security headers every answer carries. Apart from the
//! routes so that the whole defence reads in one place.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, error, pages};

/// The `Host` values that name this UI: the loopback names with the bound port, and the bound
/// address itself. IP literals cannot be re-pointed by DNS; `localhost` resolves locally.
/// Bound to an unspecified address (`0.0.0.0`), other addresses of this device are not known
/// here and are refused: bind to the one to use.
pub(super) fn own_hosts(addr: SocketAddr) -> Vec<String> {
    let ip = addr.ip();
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    if ip == IpAddr::V6(Ipv6Addr::LOCALHOST) || (ip.is_ipv6() && ip.is_unspecified()) {
        names.push("[::1]".to_owned());
    }
    if !ip.is_unspecified() {
        names.push(match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    names.dedup();
    let port = addr.port();
    let mut hosts: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
    // Browsers leave the default port out of `Host`.
    if port == 80 {
        hosts.extend(names);
    }
    hosts
}

/// Refuses requests not addressed to this UI by name (421) and writes from other origins
/// (403), for every route. `Origin` is checked only when present: a browser sends it with
/// every cross-origin write; tools such as the tests send none, and reach this port only
/// from the device itself. `Sec-Fetch-Site` `same-site` is refused too: another port of
/// `localhost` is the same site but another program.
pub(super) async fn own_host_only(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let own = |value: &str| state.hosts.iter().any(|h| h.eq_ignore_ascii_case(value));
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host_ok = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().is_ok_and(own),
        _ => false,
    };
    // An absolute-form request line names a host too: it must be this one as well.
    let target_ok = req.uri().authority().is_none_or(|a| own(a.as_str()));
    if !host_ok || !target_ok {
        return refusal(
            StatusCode::MISDIRECTED_REQUEST,
            api,
            "请求的地址不是本机走访页面,已拒绝。请在本机浏览器中打开走访客户端显示的地址。",
        );
    }
    if !req.method().is_safe() && !from_own_origin(req.headers(), &own) {
        return refusal(
            StatusCode::FORBIDDEN,
            api,
            "请求不是从本机走访页面发出的,已拒绝。",
        );
    }
    next.run(req).await
}

fn from_own_origin(headers: &HeaderMap, own: &impl Fn(&str) -> bool) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    let site_ok = text(header::HeaderName::from_static("sec-fetch-site"))
        .is_none_or(|site| site == "same-origin" || site == "none");
    let origin_ok =
        text(header::ORIGIN).is_none_or(|origin| origin.strip_prefix("http://").is_some_and(own));
    site_ok && origin_ok
}

fn refusal(status: StatusCode, api: bool, message: &str) -> Response {
    if api {
        error::ApiError::new(status, message).into_response()
    } else {
        (
            status,
            Html(
                pages::bare(
                    "请求被拒绝",
                    maud::html! { h1 { "请求被拒绝" } p.err { (message) } },
                )
                .into_string(),
            ),
        )
            .into_response()
    }
}

/// Strict CSP: scripts and styles only from this origin, no inline code. Nothing but the
/// embedded assets may be cached: the browser's disk cache is outside the encrypted store, and
/// pages and photos hold names, ID numbers and incomes.
pub(super) async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let cacheable = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with this UI's own form
    // posts, indistinguishable from a sandboxed page of another site (`own_host_only`).
    // `same-origin` still sends no referrer to any other site.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}
