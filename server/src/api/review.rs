//! The review pages' data as JSON, for county systems and scripts: the same operations, the
//! same access rules (`crate::review`), the pages' sessions (`crate::web::session`: a cookie
//! from `POST /api/review/login`), and the session's anti-forgery token in an `X-CSRF-Token`
//! header on every write.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use zoufang_shared::CodeList;
use zoufang_shared::codes::{ProcedureStep, StepOutcome};
use zoufang_shared::model::Case;
use zoufang_shared::rules::assessment::Assessment;

use crate::error::{ApiError, login_body};
use crate::ratelimit::ClientIp;
use crate::report::Report;
use crate::report::cross::ConflictEntry;
use crate::report::roster::RosterRow;
use crate::review::{self, Decision, ReviewError};
use crate::state::Shared;
use crate::storage::Database;
use crate::web::csrf::check_csrf;
use crate::web::{
    MAX_FORM_BYTES, PAGE_ROWS, PageError, PeriodParams, RosterParams, Viewer, report_of, session,
};
use zoufang_shared::rounds::Round;
use zoufang_shared::wire::{self, ErrorBody};

/// The review API's routes; a login (a password), a household (its document) and the writes
/// (merges) are heavy.
pub fn routes<D: Database>(state: &Shared<D>) -> Router<Shared<D>> {
    let heavy = &state.heavy;
    Router::new()
        .route("/api/review/login", heavy.admits(post(login::<D>)))
        .route("/api/review/report", get(report::<D>))
        .route("/api/review/roster", get(roster::<D>))
        .route(
            "/api/review/households/{id}",
            heavy.admits(get(household::<D>)),
        )
        .route("/api/review/conflicts", get(conflicts::<D>))
        .route("/api/review/decide", heavy.admits(post(decide::<D>)))
        .route("/api/review/settle", heavy.admits(post(settle::<D>)))
        .route("/api/review/rounds", get(rounds::<D>).post(open_round::<D>))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

fn api_error(e: ReviewError) -> ApiError {
    PageError::from(e).into()
}

/// The JSON body of a write whose `X-CSRF-Token` header is the session's token: without a
/// session it is 401, with a wrong or missing token 403, before the body is read; a malformed
/// body is an [`ApiError`].
pub struct CsrfJson<T>(pub T);

impl<D, T> FromRequest<Shared<D>> for CsrfJson<T>
where
    D: Database,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared<D>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let expected = session::session_csrf(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        check_csrf(&expected, sent).map_err(|e| ApiError::from(e).into_response())?;
        let Json(body) = Json::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        Ok(CsrfJson(body))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    username: String,
    name: String,
    role: String,
    areas: Vec<String>,
    /// Send back as `X-CSRF-Token` on every write.
    csrf: String,
}

/// Opens a review session: the cookie `zf_session`, and the anti-forgery token for writes.
/// Throttled with the other logins (`crate::auth::login`).
#[utoipa::path(
    post,
    path = "/api/review/login",
    tag = "review",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse,
         headers(("Set-Cookie" = String, description = "`zf_session`, HttpOnly, SameSite=Strict"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Wrong username or password, or a disabled account",
         body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "Missing or unknown fields", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn login<D: Database>(
    State(state): State<Shared<D>>,
    ClientIp(ip): ClientIp,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = login_body(body)?;
    let opened = session::open_session(&state, &req.username, &req.password, ip).await?;
    let user = opened.user;
    Ok((
        [(
            header::SET_COOKIE,
            session::session_cookie_for(&state.config, &opened.token),
        )],
        Json(LoginResponse {
            username: user.username,
            name: user.display_name,
            role: user.role.code().into(),
            areas: user.areas,
            csrf: opened.csrf,
        }),
    )
        .into_response())
}

/// The report of an area over a period: counts by status and case kind, the procedure's
/// progress, the rates; one section per child area.
#[utoipa::path(
    get,
    path = "/api/review/report",
    tag = "review",
    security(("session" = [])),
    params(PeriodParams),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "A date that is not `YYYY-MM-DD`", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "An area unknown or outside the user's areas",
         body = ErrorBody),
        (status = 422, description = "The period ends before it starts", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn report<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(report_of(&state, &viewer, &params).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RosterPage {
    households: i64,
    persons: i64,
    rows: Vec<RosterRow>,
    /// The `after` of the next page, when there is one.
    next: Option<String>,
}

/// One page of households matching the filters (as the report's cells link them).
#[utoipa::path(
    get,
    path = "/api/review/roster",
    tag = "review",
    security(("session" = [])),
    params(PeriodParams, RosterParams),
    responses(
        (status = 200, description = "A page of the roster", body = RosterPage),
        (status = 400, description = "An invalid filter, date or page position", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "An area unknown or outside the user's areas",
         body = ErrorBody),
        (status = 422, description = "The period ends before it starts", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn roster<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<RosterParams>,
) -> Result<Json<RosterPage>, ApiError> {
    let review = viewer.review(&state);
    let filter = params.filter(&viewer, state.config.no_visit_days, PAGE_ROWS)?;
    let rows = review.roster(&filter).await.map_err(api_error)?;
    let (households, persons) = review.roster_size(&filter).await.map_err(api_error)?;
    let next = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|r| format!("{}|{}", r.area_code, r.id)))
        .flatten();
    Ok(Json(RosterPage {
        households,
        persons,
        rows,
        next,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HouseholdView {
    id: String,
    area_code: Option<String>,
    status: Option<String>,
    persons: usize,
    /// By case id: the dynamic-management cases with their step records (`model::Case`).
    #[schema(value_type = BTreeMap<String, Object>)]
    cases: std::collections::BTreeMap<String, Case>,
    /// Conflicted fields and how many values each has.
    #[schema(schema_with = crate::schema::conflict_pairs)]
    conflicts: Vec<(String, usize)>,
    /// The year the household is judged in: its latest income year, else its survey year, else
    /// the year of its newest change.
    year: i32,
    /// The projection's verdict for that year (`rules::assessment::Assessment`): the failures
    /// the roster's `failed_criteria` lists, the income line applied and any notice about it.
    #[schema(value_type = Object)]
    assessment: Assessment,
}

/// One household: its cases and which fields are in conflict.
#[utoipa::path(
    get,
    path = "/api/review/households/{id}",
    tag = "review",
    security(("session" = [])),
    params(("id" = String, Path, description = "The household's id")),
    responses(
        (status = 200, description = "The household", body = HouseholdView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "Unknown, or outside the user's areas", body = ErrorBody),
        (status = 422, description = "The stored document cannot be read", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn household<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<HouseholdView>, ApiError> {
    let (h, mut doc) = viewer
        .review(&state)
        .household(&id)
        .await
        .map_err(api_error)?;
    let conflicts = review::conflicts_of(&mut doc)
        .map_err(api_error)?
        .into_iter()
        .map(|c| (c.path_string(), c.values.len()))
        .collect();
    let (year, assessment) = crate::heavy::cpu(|| crate::projection::verdict(&mut doc, &h));
    Ok(Json(HouseholdView {
        id,
        area_code: h.info.area_code.clone(),
        status: h.info.status.map(|s| s.code().to_owned()),
        persons: h.size(),
        cases: h
            .cases
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect(),
        conflicts,
        year,
        assessment,
    }))
}

/// Conflicted fields of the area's households, at most 500.
#[utoipa::path(
    get,
    path = "/api/review/conflicts",
    tag = "review",
    security(("session" = [])),
    params(PeriodParams),
    responses(
        (status = 200, description = "The conflicts queue", body = Vec<ConflictEntry>),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 404, description = "An area unknown or outside the user's areas",
         body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn conflicts<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    Query(params): Query<PeriodParams>,
) -> Result<Json<Vec<ConflictEntry>>, ApiError> {
    let (_, queue) = viewer
        .review(&state)
        .conflicts(params.area.as_deref(), 500)
        .await
        .map_err(api_error)?;
    Ok(Json(queue))
}

/// The 工作批次 covering the user's areas, latest start first.
#[utoipa::path(
    get,
    path = "/api/review/rounds",
    tag = "review",
    security(("session" = [])),
    responses(
        (status = 200, description = "The rounds", body = wire::RoundsResponse),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn rounds<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
) -> Result<Json<wire::RoundsResponse>, ApiError> {
    let rounds = viewer
        .review(&state)
        .rounds()
        .await
        .map_err(|e| api_error(e.into()))?;
    Ok(Json(wire::RoundsResponse { rounds }))
}

/// Opens a 工作批次 (county supervisors and admins, inside their areas); devices receive it at
/// their next sync and file new cases under it.
#[utoipa::path(
    post,
    path = "/api/review/rounds",
    tag = "review",
    security(("session" = [], "csrf" = [])),
    request_body = Round,
    responses(WriteAnswers)
)]
#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub(crate) async fn open_round<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    CsrfJson(round): CsrfJson<Round>,
) -> Result<StatusCode, ApiError> {
    viewer
        .review(&state)
        .open_round(round)
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The answers of a write (a decision, a settlement), described once for both.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only described: the handlers answer `StatusCode` or `ApiError`.
enum WriteAnswers {
    #[response(status = 204, description = "Recorded")]
    Recorded,
    #[response(status = 400, description = "Malformed JSON")]
    Malformed(ErrorBody),
    #[response(status = 401, description = "No valid session")]
    NoSession(ErrorBody),
    #[response(
        status = 403,
        description = "Missing or wrong `X-CSRF-Token`, or a role that may not do this"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "Unknown household or case, or outside the user's areas"
    )]
    NotFound(ErrorBody),
    #[response(status = 413, description = "Body over 64 KiB")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not `application/json`")]
    NotJson(ErrorBody),
    #[response(
        status = 422,
        description = "Missing or invalid fields, or against the procedure"
    )]
    Invalid(ErrorBody),
    #[response(status = 500, description = "Internal error")]
    Internal(ErrorBody),
    #[response(status = 503, description = "Busy: retry")]
    Busy(ErrorBody),
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideRequest {
    household: String,
    case: String,
    #[schema(schema_with = crate::schema::code_list::<ProcedureStep>)]
    step: ProcedureStep,
    #[schema(schema_with = crate::schema::code_list::<StepOutcome>)]
    outcome: StepOutcome,
    #[serde(default)]
    comment: String,
}

/// Records a reviewer's step (township review, county decision, …) on a case.
#[utoipa::path(
    post,
    path = "/api/review/decide",
    tag = "review",
    security(("session" = [], "csrf" = [])),
    request_body = DecideRequest,
    responses(WriteAnswers)
)]
#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub(crate) async fn decide<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    CsrfJson(req): CsrfJson<DecideRequest>,
) -> Result<StatusCode, ApiError> {
    viewer
        .review(&state)
        .decide(
            &Decision {
                household_id: req.household,
                case_id: req.case,
                step: req.step,
                outcome: req.outcome,
                comment: req.comment,
            },
            crate::projection::today(),
            state.config.publicity_min_days,
        )
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettleRequest {
    household: String,
    /// The conflicted field, as the household view lists it.
    path: String,
    /// The value to keep, typed as the field's form parses it.
    #[schema(value_type = Value)]
    value: Json_,
}

/// Settles a conflicted field with the value to keep.
#[utoipa::path(
    post,
    path = "/api/review/settle",
    tag = "review",
    security(("session" = [], "csrf" = [])),
    request_body = SettleRequest,
    responses(WriteAnswers)
)]
#[tracing::instrument(skip_all, fields(user = %viewer.user.username))]
pub(crate) async fn settle<D: Database>(
    State(state): State<Shared<D>>,
    viewer: Viewer,
    CsrfJson(req): CsrfJson<SettleRequest>,
) -> Result<StatusCode, ApiError> {
    viewer
        .review(&state)
        .settle(&req.household, &req.path, req.value)
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}
