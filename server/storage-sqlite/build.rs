// `sqlx::migrate!` (in `zoufang_storage::migrated_db!`) embeds this backend's migration files
// at compile time; without this a new or edited migration would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/server-sqlite");
}
