//! The day's spot-check list as a file for the field: XLSX (or CSV), one row a household.

use axum::extract::{Query, State};
use axum::response::Response;

use super::checks::{SpotParams, spot_list};
use super::export::{FormatParam, download};
use super::pages::{area_name, spot_reason, spot_result_label};
use super::{PageError, Viewer};
use crate::export::{Cell, Table};
use crate::state::Shared;
use crate::storage::Database;

pub async fn spot<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<SpotParams>,
    Query(f): Query<FormatParam>,
) -> Result<Response, PageError> {
    let list = spot_list(&state, &viewer, &params).await?;
    let Some(township) = list.township else {
        return Err(PageError::bad_request("请选择乡镇"));
    };
    let areas = viewer.review(&state).readable_areas().await?;
    let headers = [
        "抽查日期",
        "村",
        "户主姓名",
        "户编号",
        "抽取原因",
        "抽查结果",
        "说明",
        "核查人",
    ];
    let rows = list
        .rows
        .iter()
        .map(|r| {
            let village = area_name(&areas, &r.check.village);
            vec![
                Cell::Text(list.day.to_string()),
                Cell::Text(village.clone()),
                Cell::Text(r.head.clone()),
                r.household_no.clone().into(),
                Cell::Text(spot_reason(r, &village)),
                r.check.result.as_deref().map(spot_result_label).into(),
                r.check.note.clone().into(),
                r.checker.clone().into(),
            ]
        })
        .collect();
    let title = format!("抽查名单-{}-{}", area_name(&areas, &township), list.day);
    let table = Table {
        title: title.clone(),
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    };
    download(&table, &title, f.format)
}
