//! The visit form: one visit, with photos and signature pads. Separate from the household
//! form: it records a visit, not the household's fields, and needs none of its widgets.

use maud::{Markup, html};
use zoufang_shared::codes::*;
use zoufang_shared::limits::{MAX_NOTE_CHARS, MAX_SHORT_CHARS};
use zoufang_shared::model::*;

use super::{note_limit, options};
use crate::web::fields;

pub fn visit_form(h: &Household, today: chrono::NaiveDate, visitor: &str) -> Markup {
    html! {
        h1 { "记录走访" }
        p.muted { (h.head().map(|m| m.name.clone()).unwrap_or_default()) " 户" }
        form #visit-form data-api={ "/api/households/" (h.id) "/visits" } data-method="POST" data-back={ "/h/" (h.id) } data-draft={ "visit:" (h.id) } novalidate {
            p.draft-note #draft-note hidden {}
            p.err.form-error data-err-for="form" {}
            div.field { label for="v-date" { "走访日期" } input type="date" name="date" id="v-date" value=(today); p.err data-err-for="date" {} }
            div.field { label for="v-visitor" { "走访人" } input type="text" name="visitor" id="v-visitor" value=(visitor) maxlength=(MAX_SHORT_CHARS); p.err data-err-for="visitor" {} }
            div.field {
                span.label { "走访方式" }
                @for m in VisitMode::ALL {
                    label.check { input type="radio" name="mode" value=(m.code()) checked[*m == VisitMode::InPerson]; " " (m.label()) }
                }
                p.err data-err-for="mode" {}
            }
            div.field {
                label.check { input type="checkbox" name="household_present" value="true" checked; " 户主或家庭成员在家" }
            }
            div.field {
                span.label { "照片" }
                label.camera for="v-photo" {
                    "拍照(可多张)"
                    input type="file" id="v-photo" accept="image/*" capture="environment" multiple;
                }
                div.thumbs #photo-thumbs {}
                p.muted { "照片在本机缩小至 1600 像素以内后保存同步,原图仅保留在本机。" }
                p.err data-err-for="photos" {}
            }
            div.field { label for="v-notes" { "走访情况" } textarea name="notes" id="v-notes" rows="4" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
            div.field { label for="v-policies" { "享受政策知晓情况" } textarea name="policies_known" id="v-policies" rows="2" maxlength=(MAX_NOTE_CHARS) {} (note_limit()) }
            div.field {
                label for="v-sat" { "对帮扶工作满意度" }
                select name="satisfaction" id="v-sat" { (options(&fields::choices::<Satisfaction>(), None, "未询问")) }
            }
            @for role in [SignerRole::Head, SignerRole::Surveyor, SignerRole::TeamLeader] {
                div.field.signature data-role=(role.code()) {
                    span.label { (role.label()) "签名" span.muted { "(请" (role.label()) "在框内手写)" } }
                    canvas.pad width="600" height="200" {}
                    button type="button" class="clear-pad" { "清除" }
                }
            }
            button.primary type="submit" { "保存走访" }
        }
    }
}
