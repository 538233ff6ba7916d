//! Photo uploads: ownership while unfinished, quota, expiry.
