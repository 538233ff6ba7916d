//! Photos and signatures: complete attachments and each device's unfinished uploads.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentState {
    pub hash: String,
    pub received: i64,
    pub complete: bool,
}

/// One chunk for [`crate::Database::append_upload`].
#[derive(Debug, Clone, Copy)]
pub struct UploadChunk<'a> {
    pub device_id: &'a str,
    pub hash: &'a str,
    pub mime: &'a str,
    /// The whole attachment's declared size.
    pub total: i64,
    pub offset: i64,
    pub bytes: &'a [u8],
    /// The most the declared sizes of the device's unfinished uploads may add up to.
    pub quota: i64,
}

/// What [`crate::Database::append_upload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Stored: the device's upload now holds this many bytes.
    Stored(i64),
    /// Nothing stored: the attachment is complete already, of this size.
    Complete(i64),
    /// Nothing stored: the device's own upload holds this many bytes (0: it has none), which is
    /// not the chunk's offset.
    Misplaced(i64),
    /// Nothing stored: starting this upload would take the device over its quota.
    OverQuota,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub mime: String,
    pub total: i64,
    pub bytes: Vec<u8>,
    pub complete: bool,
}
