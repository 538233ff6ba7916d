//! Issue 16: what one enrolled but hostile device (or an anonymous peer) can make the server
//! do. Each reproduction of the issue is a test here, on a real server process, on SQLite and
//! on PostgreSQL where storage is involved. One module per front.
mod attachments;
mod history;
mod load;
mod text;
mod web;
