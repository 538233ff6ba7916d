//! Photos as a field device takes them: uploaded through the client's UI API and attached to
//! a visit, as the phone does.

use serde_json::{Value, json};

/// A tiny PNG of `width`×`height` (its header is all the client checks), padded with `padding`
/// bytes: past 256 KiB it takes more than one upload chunk.
pub fn png(width: u32, height: u32, padding: usize) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&width.to_be_bytes());
    png.extend_from_slice(&height.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    png.extend(std::iter::repeat_n(7u8, padding));
    png
}

/// A real PNG of `width`×`height` in one colour, which a browser decodes (unlike [`png`]'s
/// header): stored (uncompressed) deflate blocks, so no compressor is needed.
pub fn solid_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    // Each scanline: filter type 0 (none), then its pixels.
    let line: Vec<u8> = std::iter::once(0)
        .chain(std::iter::repeat_n(rgb, width as usize).flatten())
        .collect();
    let raw = line.repeat(height as usize);
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `POST /api/attachments` on the client UI at `ui`: the client's answer (with the `hash`).
pub async fn upload(http: &reqwest::Client, ui: &str, content_type: &str, body: Vec<u8>) -> Value {
    http.post(format!("{ui}/api/attachments"))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("upload answer")
}

/// Records an in-person visit to `household` on `date` by `visitor` with `photos` (their
/// hashes) through the client UI at `ui`; it must succeed.
pub async fn record_visit(
    http: &reqwest::Client,
    ui: &str,
    household: &str,
    date: &str,
    visitor: &str,
    photos: &[&Value],
) {
    let visit = json!({
        "date": date, "visitor": visitor, "mode": "in_person", "photos": photos,
    });
    post_visit(http, ui, household, &visit).await;
}

/// Records a visit as the client's visit form sends it (`date`, `visitor`, `mode`, `notes`,
/// `satisfaction`, `photos`, `signatures` as `[{role, hash}]`, …); it must succeed.
pub async fn post_visit(http: &reqwest::Client, ui: &str, household: &str, visit: &Value) {
    let visit = http
        .post(format!("{ui}/api/households/{household}/visits"))
        .json(visit)
        .send()
        .await
        .expect("visit");
    assert!(
        visit.status().is_success(),
        "{}",
        visit.text().await.unwrap_or_default()
    );
}
