//! Turning the file's bytes into text. The national system and Excel on a Chinese Windows save
//! CSV as GBK (code page 936) unless told otherwise; newer exports are UTF-8, often with a BOM.

use std::borrow::Cow;

use encoding_rs::{Encoding, GB18030};

/// Why the bytes are not a CSV text we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("文件为空")]
    Empty,
    #[error("这是 Excel 工作簿而不是 CSV 文件,请在 Excel 中“另存为”CSV 后再导入")]
    Spreadsheet,
    #[error("文件编码无法识别:既不是 UTF-8,也不是 GBK/GB18030")]
    Encoding,
    #[error("文件含有二进制内容,不是 CSV 文本文件")]
    Binary,
}

/// The text, and the name of the encoding when it was not plain UTF-8 (worth a notice: a
/// mis-guessed encoding shows as garbled names).
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Option<&'static str>), DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    // xlsx is a zip; xls is an OLE compound file.
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(DecodeError::Spreadsheet);
    }
    let (text, encoding) = if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let body = bytes.get(bom..).unwrap_or_default();
        let text = encoding
            .decode_without_bom_handling_and_without_replacement(body)
            .ok_or(DecodeError::Encoding)?;
        let name = (encoding != encoding_rs::UTF_8).then_some(encoding.name());
        (text, name)
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        (Cow::Borrowed(text), None)
    } else {
        // GB18030 is a superset of GBK and GB2312, so one decoder reads all three.
        let text = GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or(DecodeError::Encoding)?;
        (text, Some("GBK/GB18030"))
    };
    if text.contains('\0') {
        return Err(DecodeError::Binary);
    }
    Ok((text, encoding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utf8_with_and_without_bom() {
        let (t, e) = decode("户编号,姓名".as_bytes()).expect("utf-8");
        assert_eq!((t.as_ref(), e), ("户编号,姓名", None));
        let (t, e) = decode("\u{feff}户编号,姓名".as_bytes()).expect("utf-8 bom");
        assert_eq!((t.as_ref(), e), ("户编号,姓名", None));
    }

    #[test]
    fn reads_gbk() {
        let (bytes, _, _) = encoding_rs::GBK.encode("户编号,姓名\n1,李大山");
        let (t, e) = decode(&bytes).expect("gbk");
        assert_eq!(t, "户编号,姓名\n1,李大山");
        assert_eq!(e, Some("GBK/GB18030"));
    }

    #[test]
    fn refuses_what_is_not_csv_text() {
        assert_eq!(decode(b" \n").err(), Some(DecodeError::Empty));
        assert_eq!(
            decode(b"PK\x03\x04rest").err(),
            Some(DecodeError::Spreadsheet)
        );
        assert_eq!(decode(b"a,b\xff\xff").err(), Some(DecodeError::Encoding));
        assert_eq!(decode(b"a,b\0c").err(), Some(DecodeError::Binary));
    }
}
