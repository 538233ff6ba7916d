//! What a surveyor records on the household form, sent as the client's page sends it: the flat
//! `field → text` map of `PUT /api/households/{id}` on the client's local web API.

use serde_json::{Value, json};

use crate::ClientProcess;

/// The form of a household that meets every criterion but income and medical insurance:
/// 两不愁 checked, a safe house, safe water, the national line, and an income for `year` of
/// `wage` yuan (wages only). Medical insurance is per member: see [`insure`].
pub fn exit_ready_form(year: i32, wage: &str) -> Value {
    json!({
        "info.food_secure": "true",
        "info.clothing_secure": "true",
        "info.standard_level": "national",
        "living.house_grade": "b",
        "water.litres_per_person_day": "60",
        "water.dry_area": "false",
        "water.trip_minutes": "0",
        "water.cut_days_per_year": "5",
        "water.quality_tested": "true",
        "income.year": year.to_string(),
        "income.wage": wage,
    })
}

/// Marks `members` (member ids) as insured on `form`.
pub fn insure(form: &mut Value, members: &[String]) {
    for m in members {
        form[format!("m.{m}.medical_insurance")] = json!("true");
    }
}

/// Sends `method path` (with `body` as JSON, when given) to a client's local web API; panics
/// with the client's answer unless it succeeds, and returns that answer as JSON (`null` when it
/// is not JSON).
pub async fn client_api(
    http: &reqwest::Client,
    client: &ClientProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let mut request = http.request(method.clone(), format!("{}{path}", client.url));
    if let Some(body) = body {
        request = request.json(body);
    }
    let res = request.send().await.expect("client API request");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "client {method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Saves `form` onto `household` through the client; panics with the client's answer unless
/// the save succeeds.
pub async fn save_form(
    http: &reqwest::Client,
    client: &ClientProcess,
    household: &str,
    form: &Value,
) {
    let path = format!("/api/households/{household}");
    client_api(http, client, reqwest::Method::PUT, &path, Some(form)).await;
}

/// Records what a 脱贫退出 needs (the client refuses the case otherwise): every criterion met,
/// every member (ids) insured, and a 2020 income of 30,000 yuan, above that year's national line.
pub async fn ready_for_exit(client: &ClientProcess, household: &str, members: &[String]) {
    let mut form = exit_ready_form(2020, "30000");
    insure(&mut form, members);
    save_form(&reqwest::Client::new(), client, household, &form).await;
}
