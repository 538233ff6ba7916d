//! Values a backend or a format cannot hold: long text, NUL, exports.
