//! Recording a visit, with the photos and signatures uploaded for it. Apart because a visit's
//! attachments are checked against the stored bytes before the visit is written.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use zoufang_shared::codes::*;
use zoufang_shared::model::*;

use super::{
    AppState, Body, field_error, household_id, optional_code, parse_code, parse_date, redirect,
    today,
};
use crate::store::{Store, image_size};
use crate::web::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitBody {
    date: String,
    visitor: String,
    mode: String,
    #[serde(default)]
    household_present: Option<String>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    policies_known: String,
    #[serde(default)]
    satisfaction: Option<String>,
    #[serde(default)]
    photos: Vec<String>,
    #[serde(default)]
    signatures: Vec<SignatureRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRef {
    role: String,
    hash: String,
}

/// Metadata of an uploaded attachment, read from the stored bytes (never trusted from the body).
fn attachment_meta(
    s: &Store,
    hash: &str,
    kind: AttachmentKind,
    signer: Option<SignerRole>,
    captured_by: &str,
) -> Result<Attachment, ApiError> {
    let invalid = || field_error("photos", "附件未上传或已损坏,请重新拍摄");
    if !is_content_hash(hash) {
        return Err(invalid());
    }
    let (mime, bytes) = s.attachment(hash)?.ok_or_else(invalid)?;
    let (width, height) = image_size(&bytes, &mime).map_err(|_| invalid())?;
    Ok(Attachment {
        kind,
        signer,
        mime,
        bytes: bytes.len() as u64,
        width: u32::try_from(width).ok(),
        height: u32::try_from(height).ok(),
        captured_at: Some(chrono::Utc::now().to_rfc3339()),
        captured_by: Some(captured_by.to_owned()),
        visit: None,
        case: None,
    })
}

pub async fn add_visit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<VisitBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = household_id(&id)?;
    state
        .with_store(move |s| {
            let date = parse_date("date", &body.date)?;
            if date > today() {
                return Err(field_error("date", "走访日期不能晚于今天"));
            }
            let mode: VisitMode = parse_code("mode", &body.mode)?;
            let satisfaction = optional_code("satisfaction", body.satisfaction.as_deref())?;
            let user = s.identity()?;
            let mut metas = Vec::new();
            for hash in &body.photos {
                metas.push((
                    hash.clone(),
                    attachment_meta(s, hash, AttachmentKind::Photo, None, &user.user_id)?,
                ));
            }
            for sig in &body.signatures {
                let role: SignerRole = parse_code("signatures", &sig.role)?;
                metas.push((
                    sig.hash.clone(),
                    attachment_meta(
                        s,
                        &sig.hash,
                        AttachmentKind::Signature,
                        Some(role),
                        &user.user_id,
                    )?,
                ));
            }
            let visit = Visit {
                date,
                visitor: body.visitor.trim().to_owned(),
                visitor_user: Some(user.user_id.clone()),
                mode,
                household_present: Some(body.household_present.as_deref() == Some("true")),
                notes: body.notes.trim().to_owned(),
                policies_known: body.policies_known.trim().to_owned(),
                satisfaction,
                attachments: metas.iter().map(|(h, _)| h.clone()).collect(),
            };
            s.edit_household(&id, |e| {
                let visit_id = e.add_visit(&visit)?;
                for (hash, mut meta) in metas {
                    meta.visit = Some(visit_id.clone());
                    e.put_attachment(&hash, &meta)?;
                }
                Ok(())
            })
            .map_err(|e| match e {
                crate::store::StoreError::Doc(zoufang_shared::doc::DocError::Invalid(v))
                    if matches!(*v, zoufang_shared::doc::ValidationError::NoVisitor) =>
                {
                    field_error("visitor", v.to_string())
                }
                other => other.into(),
            })?;
            Ok((StatusCode::CREATED, redirect(format!("/h/{id}"))))
        })
        .await
}
