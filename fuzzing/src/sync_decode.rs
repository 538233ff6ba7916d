//! The body of `POST /api/sync` as the server reads it: DEFLATE, postcard, packed changes
//! rebuilt, then each push checked and merged the way `sync::sync` does before anything is
//! stored.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use zoufang_server::actor::server_actor;
use zoufang_server::storage::{DeviceAuth, Role, StoredHousehold, User};
use zoufang_server::sync::check_push;
use zoufang_shared::doc::{ChangeAuthor, HouseholdDoc, IncomingChange};
use zoufang_shared::ids::HouseholdId;
use zoufang_shared::wire::{self, PushOutcome, SyncRequest, WireError};

/// The area the fuzzed device's user works in (凤庆县, as in the demo data).
const AREA: &str = "530921";

/// Pushes checked per request: the server allows thousands, each costs a merge, and a few
/// already cover every path.
const PUSHES_CHECKED: usize = 4;

pub fn run(data: &[u8]) {
    let req: SyncRequest = match wire::decode(data) {
        Ok(req) => req,
        Err(WireError::Compression | WireError::TooLarge(_) | WireError::Decode(_)) => return,
    };
    let again = wire::encode(&req).expect("a decoded request encodes");
    assert_eq!(
        wire::decode::<SyncRequest>(&again).expect("an encoded request decodes"),
        req,
        "decode → encode → decode round-trips"
    );
    // As `sync::sync` does first: packed changes rebuilt (protocol 4), full ones left as they are.
    let mut req = req;
    if req.unpack().is_err() {
        return;
    }
    let device = device_for(&req);
    for push in req.pushes.iter().take(PUSHES_CHECKED) {
        check(&device, push, None);
        check(&device, push, Some(stored()));
    }
}

fn check(device: &DeviceAuth, push: &zoufang_shared::wire::Push, stored: Option<&StoredHousehold>) {
    let (outcome, write) = check_push(device, push, stored);
    match (&outcome, write) {
        (PushOutcome::Accepted { heads }, Some(write)) => {
            // What would be stored loads, is the merged document, and reads as a household.
            let mut doc =
                HouseholdDoc::load(&write.doc, server_actor()).expect("an accepted document loads");
            let mut stored_heads: Vec<_> = doc.heads().iter().map(|h| h.0).collect();
            let mut heads = heads.clone();
            stored_heads.sort();
            heads.sort();
            assert_eq!(stored_heads, heads, "the answer names the stored heads");
            doc.read().expect("an accepted document reads");
            assert_eq!(write.area_code, write.projection.area_code);
            crate::doc_load::explore(&mut doc);
        }
        (PushOutcome::Accepted { .. }, None) => {
            assert!(
                stored.is_some(),
                "nothing new is accepted only for a stored household"
            );
        }
        (PushOutcome::NeedAll | PushOutcome::Rejected { .. }, write) => {
            assert!(write.is_none(), "a refused push writes nothing");
        }
    }
    if let PushOutcome::Rejected { code, message } = &outcome {
        assert!(!code.is_empty() && !message.is_empty());
    }
}

/// A device whose actor and id are those of the request's first change, so that fuzzed changes
/// get past the actor checks to the merge (the checks themselves are exercised by every other
/// change).
pub fn device_for(req: &SyncRequest) -> DeviceAuth {
    let first = req
        .pushes
        .iter()
        .flat_map(|p| &p.changes)
        .find_map(|bytes| IncomingChange::decode(bytes).ok());
    let (actor, username, device_id) = match &first {
        Some(c) => {
            let (user, device) = c.author();
            (
                c.actor().to_hex_string(),
                user.unwrap_or_else(|| "fuzz".into()),
                device.unwrap_or_else(|| "dev-fuzz".into()),
            )
        }
        None => ("00".repeat(16), "fuzz".into(), "dev-fuzz".into()),
    };
    DeviceAuth {
        device_id,
        actor,
        expires_at: DateTime::<Utc>::MAX_UTC,
        revoked: false,
        user: User {
            id: 1,
            username,
            display_name: "模糊测试".into(),
            password_hash: String::new(),
            role: Role::Surveyor,
            disabled: false,
            areas: vec![AREA.into()],
        },
        own_resent: Default::default(),
    }
}

/// A stored household for pushes to merge onto: the demo's typical family.
fn stored() -> &'static StoredHousehold {
    static STORED: OnceLock<StoredHousehold> = OnceLock::new();
    STORED.get_or_init(|| {
        let author = ChangeAuthor::new("u-demo", "dev-demo", crate::now());
        let (mut doc, ()) = HouseholdDoc::create_with(
            &HouseholdId("hh-demo".into()),
            zoufang_shared::doc::ActorId::from(*b"zoufang-fuzzdemo"),
            &author,
            |e| {
                zoufang_shared::demo::fill_typical(e)?;
                let mut info = e.household()?.info;
                info.area_code = Some(format!("{AREA}100001"));
                e.set_info(&info)
            },
        )
        .expect("the typical household is valid");
        StoredHousehold {
            id: "hh-demo".into(),
            area_code: doc
                .read()
                .expect("reads")
                .info
                .area_code
                .unwrap_or_default(),
            doc: doc.save(),
            version: 1,
            projected: None,
        }
    })
}
