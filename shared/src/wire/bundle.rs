//! Sync by file, for places with no network at all: a device writes its sync request to a
//! [`Bundle`] file (a USB stick), the server applies it with the same checks as over HTTP and
//! writes a [`BundleReply`] holding the device's pull, which the device then imports.
//!
//! A file is `ZFB1`, a kind byte, the device id (length-prefixed), an HMAC-SHA256 of everything
//! else, and the DEFLATE-compressed postcard payload. The MAC key is the hex SHA-256 of the
//! device's token, which both ends hold (the server stores only that hash), so neither file can
//! be forged or altered by whoever carries it.

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    COUNTY_CURSORS_PROTOCOL, MAX_DECODED_BYTES, ResponseLayout, SyncRequest, SyncRequestV5,
    SyncResponse, SyncResponseV4, SyncResponseV5, WireError, decode, encode, inflate_limited,
};

const MAGIC: &[u8; 4] = b"ZFB1";
pub const KIND_REQUEST: u8 = 1;
pub const KIND_REPLY: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub request: SyncRequest,
    /// Photos and signatures the server has not confirmed.
    pub attachments: Vec<BundledAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledAttachment {
    pub hash: String,
    pub mime: String,
    /// A photo travels as one byte string (see `super::byte_strings`).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleReply {
    pub response: SyncResponse,
    /// Attachments of the bundle the server now holds.
    pub attachments_stored: Vec<String>,
}

/// A reply as written for a device speaking `protocol` (see [`ResponseLayout`]).
#[derive(Serialize)]
struct ReplyLayout<'a> {
    response: ResponseLayout<'a>,
    attachments_stored: &'a [String],
}

/// A reply in the layout of protocols 3 and 4.
#[derive(Deserialize)]
struct BundleReplyV4 {
    response: SyncResponseV4,
    attachments_stored: Vec<String>,
}

/// A reply in the layout of protocol 5.
#[derive(Deserialize)]
struct BundleReplyV5 {
    response: SyncResponseV5,
    attachments_stored: Vec<String>,
}

/// A bundle written by a device of protocol 5 or earlier.
#[derive(Deserialize)]
struct BundleV5 {
    request: SyncRequestV5,
    attachments: Vec<BundledAttachment>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("这不是走访同步文件")]
    NotABundle,
    #[error("同步文件类型不对(应为{0})")]
    WrongKind(&'static str),
    #[error("同步文件已被改动或不属于本设备,已拒绝")]
    BadSeal,
    #[error(transparent)]
    Wire(#[from] WireError),
}

fn mac(key: &str, kind: u8, device: &str, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(&[kind]);
    m.update(device.as_bytes());
    m.update(payload);
    m
}

/// Seals `value` for `device` with `key` (hex SHA-256 of the device's token).
pub fn write<T: Serialize>(
    kind: u8,
    device: &str,
    key: &str,
    value: &T,
) -> Result<Vec<u8>, BundleError> {
    let payload = encode(value)?;
    let device_len = u8::try_from(device.len()).map_err(|_| BundleError::NotABundle)?;
    let tag = mac(key, kind, device, &payload).finalize().into_bytes();
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.extend_from_slice(MAGIC);
    out.push(kind);
    out.push(device_len);
    out.extend_from_slice(device.as_bytes());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The kind and device a file claims, before its seal is checked (to find the key).
pub fn header(bytes: &[u8]) -> Result<(u8, String), BundleError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?;
    let (&kind, rest) = rest.split_first().ok_or(BundleError::NotABundle)?;
    let (&len, rest) = rest.split_first().ok_or(BundleError::NotABundle)?;
    let device = rest
        .get(..usize::from(len))
        .ok_or(BundleError::NotABundle)?;
    let device = std::str::from_utf8(device).map_err(|_| BundleError::NotABundle)?;
    Ok((kind, device.to_owned()))
}

/// Seals the reply to a bundle whose request spoke `protocol`, in that protocol's layout.
pub fn write_reply(
    device: &str,
    key: &str,
    reply: &BundleReply,
    protocol: u32,
) -> Result<Vec<u8>, BundleError> {
    write(
        KIND_REPLY,
        device,
        key,
        &ReplyLayout {
            response: ResponseLayout {
                response: &reply.response,
                protocol,
            },
            attachments_stored: &reply.attachments_stored,
        },
    )
}

/// Checks a reply's seal with `key` and reads it in whichever layout uses every byte: a
/// bundle written before the device was updated is answered in its older layout.
pub fn read_reply(bytes: &[u8], key: &str) -> Result<BundleReply, BundleError> {
    let raw = inflate_limited(open(bytes, KIND_REPLY, key)?, MAX_DECODED_BYTES)?;
    let newest = match whole::<BundleReply>(&raw) {
        Ok(reply) => return Ok(reply),
        Err(e) => e,
    };
    let (response, attachments_stored) = if let Ok(r) = whole::<BundleReplyV5>(&raw) {
        (r.response.into(), r.attachments_stored)
    } else if let Ok(r) = whole::<BundleReplyV4>(&raw) {
        (r.response.into(), r.attachments_stored)
    } else {
        return Err(newest.into());
    };
    Ok(BundleReply {
        response,
        attachments_stored,
    })
}

/// `raw` read as a `T` that ends exactly where the bytes do.
fn whole<T: DeserializeOwned>(raw: &[u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes(raw)? {
        (value, []) => Ok(value),
        _ => Err(postcard::Error::DeserializeBadEncoding.into()),
    }
}

/// Checks a device's bundle's seal with `key` and reads it in the layout of the protocol
/// it names first.
pub fn read_bundle(bytes: &[u8], key: &str) -> Result<Bundle, BundleError> {
    let raw = inflate_limited(open(bytes, KIND_REQUEST, key)?, MAX_DECODED_BYTES)?;
    let (protocol, _) = postcard::take_from_bytes::<u32>(&raw).map_err(WireError::from)?;
    if protocol >= COUNTY_CURSORS_PROTOCOL {
        return Ok(whole(&raw)?);
    }
    let old: BundleV5 = whole(&raw)?;
    Ok(Bundle {
        request: old.request.into(),
        attachments: old.attachments,
    })
}

/// Checks the seal with `key` and decodes the payload.
pub fn read<T: DeserializeOwned>(bytes: &[u8], kind: u8, key: &str) -> Result<T, BundleError> {
    Ok(decode(open(bytes, kind, key)?)?)
}

/// Checks the seal with `key`; returns the sealed payload.
fn open<'b>(bytes: &'b [u8], kind: u8, key: &str) -> Result<&'b [u8], BundleError> {
    let (found, device) = header(bytes)?;
    if found != kind {
        return Err(BundleError::WrongKind(if kind == KIND_REQUEST {
            "设备导出的同步文件"
        } else {
            "服务器回执"
        }));
    }
    let start = MAGIC.len() + 2 + device.len();
    let tag = bytes
        .get(start..start + 32)
        .ok_or(BundleError::NotABundle)?;
    let payload = bytes.get(start + 32..).ok_or(BundleError::NotABundle)?;
    mac(key, kind, &device, payload)
        .verify_slice(tag)
        .map_err(|_| BundleError::BadSeal)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> BundleReply {
        BundleReply {
            response: SyncResponse {
                cursor: 9,
                gone: vec!["hh-3".into()],
                cursors: [("530921".to_owned(), 9)].into_iter().collect(),
                ..SyncResponse::default()
            },
            attachments_stored: vec!["ab".into()],
        }
    }

    /// A reply to a protocol 4 bundle has no `gone`; the device reads it all the same.
    #[test]
    fn replies_are_written_in_the_request_protocol_and_read_in_either() {
        for protocol in [3, 4, 5, 6] {
            let file = write_reply("dev-1", "key", &reply(), protocol).expect("write");
            let read = read_reply(&file, "key").expect("read");
            assert_eq!(read.attachments_stored, reply().attachments_stored);
            assert_eq!(read.response.gone.is_empty(), protocol < 5, "{protocol}");
            assert_eq!(read.response.cursors.is_empty(), protocol < 6, "{protocol}");
            assert_eq!(read.response.cursor, 9);
            assert!(matches!(
                read_reply(&file, "other"),
                Err(BundleError::BadSeal)
            ));
        }
    }

    #[test]
    fn sealed_files_open_only_with_their_key_and_unchanged() {
        let file = write(KIND_REPLY, "dev-1", "key", &reply()).expect("write");
        assert_eq!(
            header(&file).expect("header"),
            (KIND_REPLY, "dev-1".to_owned())
        );
        assert_eq!(
            read::<BundleReply>(&file, KIND_REPLY, "key").expect("read"),
            reply()
        );
        assert!(matches!(
            read::<BundleReply>(&file, KIND_REPLY, "other"),
            Err(BundleError::BadSeal)
        ));
        assert!(matches!(
            read::<BundleReply>(&file, KIND_REQUEST, "key"),
            Err(BundleError::WrongKind(_))
        ));
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(
                read::<BundleReply>(&bad, KIND_REPLY, "key").is_err(),
                "byte {i}"
            );
        }
        assert!(read::<BundleReply>(b"ZFB", KIND_REPLY, "key").is_err());
        assert_eq!(
            read_reply(&file, "key").expect("read_reply"),
            reply(),
            "protocol 5 layout"
        );
        assert!(read::<BundleReply>(&file[..file.len() / 2], KIND_REPLY, "key").is_err());
    }
}
