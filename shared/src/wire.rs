//! Wire types of the sync protocol, shared by client and server.
//!
//! A sync is one `POST /api/sync`: the device pushes, for every household it changed, the
//! Automerge changes the server lacks (never the whole document when a delta will do), and in
//! the same response pulls the changes others made since its cursor. Bodies are postcard
//! (compact binary serde) compressed with DEFLATE: a 2G link pays for every byte. Changes travel
//! uncompressed inside the body: households are filled in with the same fields, so the body's
//! one compression finds what their changes share, which each change compressed on its own
//! (Automerge's stored form) hides. And they travel packed: what compression cannot shrink,
//! the hash of a change sent just before that a change depends on, is sent as a reference
//! (see [`crate::doc::pack_changes`]).
//!
//! Account and error bodies are JSON: small, and readable in logs and tools.

use std::io::Read;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::cursors::{Cursors, county_of};
use crate::doc::{UnpackTooLarge, pack_changes, unpack_changes};

/// `Content-Type` of sync bodies.
pub const SYNC_CONTENT_TYPE: &str = "application/x-zoufang-sync";
/// Bumped on any incompatible change of the types below.
///
/// 4: changes may travel packed ([`crate::doc::pack_changes`]); a server answers a protocol 3
/// device (full changes only) with full changes, so devices can be updated after the server.
///
/// 5: [`SyncResponse::gone`], the households that left the user's areas, for the device to
/// drop. A server answers a protocol 3 or 4 device in the layout without it
/// ([`encode_response`]).
///
/// 6: one cursor per county ([`crate::cursors`]): [`SyncRequest::cursors`] and
/// [`SyncResponse::cursors`] close each layout, and `cursor` is the floor for counties the map
/// does not name. A device of protocol 5 or earlier, whose one cursor is that floor, is still
/// answered while its user's areas lie in one county ([`decode_request`]).
pub const PROTOCOL_VERSION: u32 = 6;
/// The first protocol whose [`SyncResponse`] carries [`SyncResponse::gone`].
pub const GONE_PROTOCOL: u32 = 5;
/// The first protocol with a cursor per county.
pub const COUNTY_CURSORS_PROTOCOL: u32 = 6;
/// The oldest protocol a server still answers.
pub const MIN_PROTOCOL_VERSION: u32 = 3;
/// Ceiling of a decompressed body, against compression bombs.
pub const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// A change hash (SHA-256 of the change).
pub type Hash = [u8; 32];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub protocol: u32,
    /// Where the device's last pull ended (0 for a first sync); from protocol 6 on, in the
    /// counties [`SyncRequest::cursors`] does not name.
    pub cursor: i64,
    /// The scope key of the device's last pull. When the user's areas have changed since, the
    /// cursor no longer covers what is now in scope, and the server pulls from the start.
    pub scope: String,
    pub pushes: Vec<Push>,
    /// Households whose pulled changes the device could not apply (a dependency it never got,
    /// e.g. a household that moved into its areas): the server sends every change of each.
    pub want_full: Vec<String>,
    /// How much the device will take back in this response (compressed size is smaller).
    pub max_pull_bytes: u32,
    /// Protocol 6 on (last in the layout): where the device's pulls stand in each county.
    pub cursors: Cursors,
}

/// Encodes a request in the layout of its `protocol`: before protocol 6 it ends at
/// `max_pull_bytes` (what a device of that protocol sends).
pub fn encode_request(req: &SyncRequest) -> Result<Vec<u8>, WireError> {
    if req.protocol >= COUNTY_CURSORS_PROTOCOL {
        return encode(req);
    }
    encode(&(
        req.protocol,
        req.cursor,
        &req.scope,
        &req.pushes,
        &req.want_full,
        req.max_pull_bytes,
    ))
}

/// The request layout of protocols 3 to 5, for reading one: it ends at `max_pull_bytes`.
#[derive(Deserialize)]
struct SyncRequestV5 {
    protocol: u32,
    cursor: i64,
    scope: String,
    pushes: Vec<Push>,
    want_full: Vec<String>,
    max_pull_bytes: u32,
}

/// Reads a request body of any protocol (see [`decode_limited`] for `limit`): the protocol,
/// the first field, says which layout follows; before protocol 6, `cursors` is empty.
pub fn decode_request(bytes: &[u8], limit: u64) -> Result<SyncRequest, WireError> {
    let raw = inflate_limited(bytes, limit)?;
    let (protocol, _) = postcard::take_from_bytes::<u32>(&raw)?;
    if protocol >= COUNTY_CURSORS_PROTOCOL {
        return Ok(postcard::from_bytes(&raw)?);
    }
    Ok(postcard::from_bytes::<SyncRequestV5>(&raw)?.into())
}

impl From<SyncRequestV5> for SyncRequest {
    fn from(r: SyncRequestV5) -> SyncRequest {
        SyncRequest {
            protocol: r.protocol,
            cursor: r.cursor,
            scope: r.scope,
            pushes: r.pushes,
            want_full: r.want_full,
            max_pull_bytes: r.max_pull_bytes,
            cursors: Cursors::default(),
        }
    }
}

/// One household's changes the server does not have yet.
///
/// No heads ride along: every change names its dependencies, and a push whose dependencies the
/// server lacks is answered [`PushOutcome::NeedAll`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub household: String,
    /// Automerge changes in causal order, uncompressed (see the module comment).
    #[serde(with = "byte_strings")]
    pub changes: Vec<Vec<u8>>,
}

impl SyncRequest {
    /// Packs each push's changes for the wire (a dependency is referred back to within its
    /// household).
    pub fn pack(&mut self) {
        for push in &mut self.pushes {
            push.changes = pack_changes(push.changes.iter().map(Vec::as_slice));
        }
    }

    /// Every push's changes as full chunks, packed or not when they came.
    pub fn unpack(&mut self) -> Result<(), UnpackTooLarge> {
        let mut budget = MAX_DECODED_BYTES;
        for push in &mut self.pushes {
            let full = unpack_changes(std::mem::take(&mut push.changes), budget)?;
            budget -= full.iter().map(|c| c.len() as u64).sum::<u64>();
            push.changes = full;
        }
        Ok(())
    }
}

impl SyncResponse {
    /// Packs the pulled changes for the wire (a dependency is referred back to anywhere earlier
    /// in the response).
    pub fn pack(&mut self) {
        let packed = pack_changes(self.pulled.iter().map(|p| p.change.as_slice()));
        for (p, change) in self.pulled.iter_mut().zip(packed) {
            p.change = change;
        }
    }

    /// The pulled changes as full chunks.
    pub fn unpack(&mut self) -> Result<(), UnpackTooLarge> {
        let packed = self
            .pulled
            .iter_mut()
            .map(|p| std::mem::take(&mut p.change))
            .collect();
        let full = unpack_changes(packed, MAX_DECODED_BYTES)?;
        for (p, change) in self.pulled.iter_mut().zip(full) {
            p.change = change;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub results: Vec<PushResult>,
    pub pulled: Vec<PulledChange>,
    /// The cursor to send next time.
    pub cursor: i64,
    /// More changes wait: sync again.
    pub more: bool,
    /// The scope key to send next time.
    pub scope: String,
    /// Protocol 5 on: households that moved out of the user's areas after the request's
    /// cursor, up to the new one, and are not back in them. The device drops them.
    pub gone: Vec<String>,
    /// Protocol 6 on (last in the layout): the cursors to send next time, one per county in
    /// the user's areas; `cursor` is then the floor to send with them.
    pub cursors: Cursors,
}

/// A response in the layout a device speaking `protocol` reads: up to protocol 4 it ends at
/// `scope` (postcard is not self-describing, so an old device cannot skip an unknown field).
pub struct ResponseLayout<'a> {
    pub response: &'a SyncResponse,
    pub protocol: u32,
}

impl Serialize for ResponseLayout<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = self.response;
        let with_gone = self.protocol >= GONE_PROTOCOL;
        let with_cursors = self.protocol >= COUNTY_CURSORS_PROTOCOL;
        let fields = 5 + usize::from(with_gone) + usize::from(with_cursors);
        let mut st = s.serialize_struct("SyncResponse", fields)?;
        st.serialize_field("results", &r.results)?;
        st.serialize_field("pulled", &r.pulled)?;
        st.serialize_field("cursor", &r.cursor)?;
        st.serialize_field("more", &r.more)?;
        st.serialize_field("scope", &r.scope)?;
        if with_gone {
            st.serialize_field("gone", &r.gone)?;
        }
        if with_cursors {
            st.serialize_field("cursors", &r.cursors)?;
        }
        st.end()
    }
}

/// The response layout of protocols 3 and 4, for reading one.
#[derive(Deserialize)]
struct SyncResponseV4 {
    results: Vec<PushResult>,
    pulled: Vec<PulledChange>,
    cursor: i64,
    more: bool,
    scope: String,
}

impl From<SyncResponseV4> for SyncResponse {
    fn from(r: SyncResponseV4) -> SyncResponse {
        SyncResponse {
            results: r.results,
            pulled: r.pulled,
            cursor: r.cursor,
            more: r.more,
            scope: r.scope,
            ..SyncResponse::default()
        }
    }
}

/// The response layout of protocol 5, for reading one: protocol 4's, then `gone` (postcard
/// writes a nested struct's fields in line, so the bytes are those of one flat struct).
#[derive(Deserialize)]
struct SyncResponseV5(SyncResponseV4, Vec<String>);

impl From<SyncResponseV5> for SyncResponse {
    fn from(SyncResponseV5(head, gone): SyncResponseV5) -> SyncResponse {
        SyncResponse {
            gone,
            ..head.into()
        }
    }
}

/// Encodes a response for a device speaking `protocol` (see [`ResponseLayout`]).
pub fn encode_response(res: &SyncResponse, protocol: u32) -> Result<Vec<u8>, WireError> {
    encode(&ResponseLayout {
        response: res,
        protocol,
    })
}

/// Reads a response written for `protocol` (protocols 3 and 4: `gone` empty; before 6:
/// `cursors` empty).
pub fn decode_response(bytes: &[u8], protocol: u32) -> Result<SyncResponse, WireError> {
    if protocol >= COUNTY_CURSORS_PROTOCOL {
        decode(bytes)
    } else if protocol >= GONE_PROTOCOL {
        decode::<SyncResponseV5>(bytes).map(SyncResponse::from)
    } else {
        decode::<SyncResponseV4>(bytes).map(SyncResponse::from)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResult {
    pub household: String,
    pub outcome: PushOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushOutcome {
    /// Stored: the server now has everything the device had of the household when it pushed.
    /// `heads` are the server's heads afterwards in a [`bundle`] reply, which the device reads
    /// after it may have edited again; over HTTP the device remembers what it sent, and they
    /// are left empty (32 bytes a household on a 2G link).
    Accepted { heads: Vec<Hash> },
    /// The server lacks changes these depend on (it was restored from a backup, or the device's
    /// idea of `have` is wrong): push every change of the household.
    NeedAll,
    /// Refused; the rest of the batch went through. `code` is stable, `message` is for people.
    Rejected { code: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledChange {
    pub household: String,
    #[serde(with = "serde_bytes")]
    pub change: Vec<u8>,
}

/// Byte vectors written as byte strings rather than as sequences of `u8` (`serde_bytes`; this
/// module for a vector of them, which that crate does not cover). In postcard both are a length
/// and then the bytes, so the wire is the same for devices of every protocol; what changes is
/// the work: a sequence goes through serde one byte at a time, a byte string in one copy (in a
/// profile of W3 the server spent 1 % of its instructions serializing pulled changes byte by
/// byte).
mod byte_strings {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(values: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| Bytes::new(v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let values = Vec::<ByteBuf>::deserialize(d)?;
        Ok(values.into_iter().map(ByteBuf::into_vec).collect())
    }
}

/// `POST /api/enroll`: a device signs in once with its user's password and gets a token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub username: String,
    pub password: String,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9-]{1,64}$"))]
    pub device_id: String,
    pub device_name: String,
    /// Hex actor id the device writes under.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-fA-F]{32}$"))]
    pub actor: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    /// Area codes the user works in.
    pub areas: Vec<String>,
    /// RFC 3339.
    pub expires_at: String,
    /// Every area of the counties the user works in, so that a device can file the households
    /// of a roster by the township and village names the file gives; absent from older servers.
    #[serde(default)]
    pub area_tree: Vec<AreaNode>,
    /// The county's UTC offset (`+08:00`), in which the device shows times so that the phone
    /// and the server's pages say the same hour; absent from older servers.
    #[serde(default)]
    pub utc_offset: Option<String>,
}

/// One area of the administrative tree (county, township, village or 村民小组).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaNode {
    /// A child's code extends its parent's.
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// `county`, `township`, `village` or `group`.
    pub level: String,
}

/// `POST /api/attachments/status`: which of these does the server still need?
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentStatusRequest {
    /// SHA-256 hex digests.
    #[cfg_attr(feature = "openapi", schema(max_items = 2000))]
    pub hashes: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentStatusResponse {
    /// The hashes the server lacks, each with where to resume its upload.
    pub missing: Vec<UploadState>,
}

/// Where an upload stands: `PUT /api/attachments/{hash}?offset=…&total=…` answers with this,
/// and a chunk sent at the wrong offset is refused (409) with it, so the client resumes there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub hash: String,
    pub offset: i64,
    pub complete: bool,
}

/// `GET /api/rounds`: the rounds a device may file cases under, fetched after each sync.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundsResponse {
    /// The 工作批次 that cover the device user's areas, latest start first; the device files a
    /// new case under one that is open on the case's day.
    pub rounds: Vec<crate::rounds::Round>,
}

/// `GET /api/standards?have=DIGEST`: the county's income standards table, which a device
/// fetches after each sync so that its verdicts use the server's lines.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardsResponse {
    /// SHA-256 hex of the table's JSON text (`Standards::digest`).
    pub digest: String,
    /// The table's JSON text, exactly as its digest was taken; absent when the device already
    /// holds it (`have` was this digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
}

/// Largest attachment the server keeps, and largest chunk of one upload request.
pub const MAX_ATTACHMENT_BYTES: i64 = 4 * 1024 * 1024;
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// Most changes of one household a device sends in one sync request (the earliest first; the
/// rest follow in the next round). The server's `max_changes_per_household` must not be set
/// below it, or such a push would be refused every time and the household never sent.
pub const DEVICE_CHANGES_PER_PUSH: usize = 500;

/// Every API error: a stable code and a message for people (Chinese).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("数据压缩格式错误")]
    Compression,
    #[error("数据解压后超过 {0} 字节上限")]
    TooLarge(u64),
    #[error("数据格式错误:{0}")]
    Decode(#[from] postcard::Error),
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    let raw = postcard::to_stdvec(value)?;
    let mut out = Vec::with_capacity(raw.len() / 3 + 64);
    crate::deflate::deflate_into(crate::deflate::Level::Default, &raw, &mut out)
        .map_err(|_| WireError::Compression)?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    decode_limited(bytes, MAX_DECODED_BYTES)
}

/// [`decode`] of a body that may inflate to at most `limit` bytes: the inflater stops there,
/// so a compression bomb costs `limit` bytes of memory and never its claimed size.
pub fn decode_limited<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, WireError> {
    let raw = inflate_limited(bytes, limit)?;
    Ok(postcard::from_bytes(&raw)?)
}

/// The DEFLATE stream `bytes` inflated, refused past `limit` bytes. The buffer grows with
/// what actually comes out, never to a size announced in advance.
pub fn inflate_limited(bytes: &[u8], limit: u64) -> Result<Vec<u8>, WireError> {
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|_| WireError::Compression)?;
    if raw.len() as u64 > limit {
        return Err(WireError::TooLarge(limit));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: 42,
            scope: "k".into(),
            want_full: vec!["hh-2".into()],
            pushes: vec![Push {
                household: "hh-1".into(),
                changes: vec![vec![1, 2, 3], vec![]],
            }],
            max_pull_bytes: 1 << 20,
            cursors: [("530921".to_owned(), 50)].into_iter().collect(),
        };
        let bytes = encode(&req).expect("encode");
        assert_eq!(decode::<SyncRequest>(&bytes).expect("decode"), req);
        assert_eq!(
            decode_request(&bytes, MAX_DECODED_BYTES).expect("decode"),
            req
        );
    }

    /// A device of protocol 5 or earlier sends the layout without `cursors`; it reads as a
    /// request whose map is empty, its one cursor the floor.
    #[test]
    fn requests_of_earlier_protocols_read_without_cursors() {
        #[derive(Serialize)]
        struct V5<'a> {
            protocol: u32,
            cursor: i64,
            scope: &'a str,
            pushes: Vec<Push>,
            want_full: Vec<String>,
            max_pull_bytes: u32,
        }
        for protocol in [3, 4, 5] {
            let v5 = V5 {
                protocol,
                cursor: 17,
                scope: "k",
                pushes: vec![],
                want_full: vec!["hh-1".into()],
                max_pull_bytes: 9,
            };
            let bytes = encode(&v5).expect("encode");
            let req = SyncRequest {
                protocol,
                cursor: 17,
                scope: "k".into(),
                want_full: vec!["hh-1".into()],
                max_pull_bytes: 9,
                ..SyncRequest::default()
            };
            assert_eq!(encode_request(&req).expect("encode"), bytes);
            let read = decode_request(&bytes, MAX_DECODED_BYTES).expect("decode");
            assert_eq!((read.protocol, read.cursor), (protocol, 17));
            assert_eq!(read.want_full, ["hh-1"]);
            assert!(read.cursors.is_empty());
            assert!(decode::<SyncRequest>(&bytes).is_err(), "one field short");
        }
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let bytes = encode(&SyncResponse {
            cursor: 1,
            gone: vec!["hh-9".into()],
            cursors: Cursors::default(),
            ..SyncResponse::default()
        })
        .expect("encode");
        for cut in 0..bytes.len() {
            let _ = decode::<SyncResponse>(&bytes[..cut]);
        }
        assert!(decode::<SyncRequest>(b"\xff\xfe garbage").is_err());
        assert!(decode::<SyncRequest>(&[]).is_err());
    }

    /// A protocol 3 or 4 device reads the answer without `gone`, protocol 5 with it, protocol 6
    /// with `cursors` too.
    #[test]
    fn responses_take_the_layout_of_the_device_protocol() {
        let res = SyncResponse {
            pulled: vec![PulledChange {
                household: "hh-1".into(),
                change: vec![1, 2],
            }],
            cursor: 3,
            more: true,
            scope: "k".into(),
            gone: vec!["hh-2".into()],
            cursors: [("530921".to_owned(), 3)].into_iter().collect(),
            ..SyncResponse::default()
        };
        let new = encode_response(&res, PROTOCOL_VERSION).expect("encode");
        assert_eq!(new, encode(&res).expect("encode"), "6: the struct as it is");
        assert_eq!(decode_response(&new, 6).expect("decode"), res);
        let five = encode_response(&res, 5).expect("encode");
        let read = decode_response(&five, 5).expect("decode");
        assert_eq!(read.gone, res.gone);
        assert!(read.cursors.is_empty());
        assert!(decode::<SyncResponse>(&five).is_err(), "one field short");
        for old in [3, 4] {
            let bytes = encode_response(&res, old).expect("encode");
            let read = decode_response(&bytes, old).expect("decode");
            assert!(read.gone.is_empty());
            assert_eq!(read.pulled, res.pulled);
            assert_eq!(read.scope, "k");
            assert!(decode::<SyncResponse>(&bytes).is_err(), "one field short");
        }
    }

    #[test]
    fn byte_vectors_travel_as_before_their_byte_string_encoding() {
        // The types as they were declared before `byte_strings`: what devices of older builds
        // send and expect.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct OldPush {
            household: String,
            changes: Vec<Vec<u8>>,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct OldPulled {
            household: String,
            change: Vec<u8>,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct OldAttachment {
            hash: String,
            mime: String,
            bytes: Vec<u8>,
        }
        let bytes: Vec<u8> = (0..=255).chain(0..300u16).map(|b| b as u8).collect();
        let push = Push {
            household: "hh".into(),
            changes: vec![bytes.clone(), Vec::new(), vec![0x80; 200]],
        };
        let old_push = OldPush {
            household: "hh".into(),
            changes: push.changes.clone(),
        };
        let pulled = PulledChange {
            household: "hh".into(),
            change: bytes.clone(),
        };
        let old_pulled = OldPulled {
            household: "hh".into(),
            change: bytes.clone(),
        };
        let photo = bundle::BundledAttachment {
            hash: "h".into(),
            mime: "image/jpeg".into(),
            bytes: bytes.clone(),
        };
        let old_photo = OldAttachment {
            hash: "h".into(),
            mime: "image/jpeg".into(),
            bytes,
        };
        fn postcard_of<T: Serialize>(value: &T) -> Vec<u8> {
            postcard::to_stdvec(value).expect("encodes")
        }
        fn json_of<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).expect("encodes")
        }
        assert_eq!(postcard_of(&push), postcard_of(&old_push));
        assert_eq!(postcard_of(&pulled), postcard_of(&old_pulled));
        assert_eq!(postcard_of(&photo), postcard_of(&old_photo));
        // And each reads the other's bytes.
        let read: Push = postcard::from_bytes(&postcard_of(&old_push)).expect("decodes");
        assert_eq!(read, push);
        let read: OldPulled = postcard::from_bytes(&postcard_of(&pulled)).expect("decodes");
        assert_eq!(read, old_pulled);
        // JSON (logs, tools) still writes and reads a byte vector as an array of numbers.
        let json = json_of(&pulled);
        assert_eq!(json, json_of(&old_pulled));
        let read: PulledChange = serde_json::from_str(&json).expect("decodes");
        assert_eq!(read, pulled);
    }

    #[test]
    fn a_compression_bomb_is_refused() {
        let zeros = vec![0u8; (MAX_DECODED_BYTES + 10) as usize];
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&zeros).expect("write");
        let bomb = z.finish().expect("finish");
        assert!(bomb.len() < 200_000, "{}", bomb.len());
        assert!(matches!(
            decode::<SyncRequest>(&bomb),
            Err(WireError::TooLarge(MAX_DECODED_BYTES))
        ));
    }
}

pub mod bundle;
