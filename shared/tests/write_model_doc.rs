//! The README shows the write model as the code holds it: a changed rule shows in the docs.

#[test]
fn the_readme_renders_the_write_model_table() {
    let readme = include_str!("../../README.md");
    let table = zoufang_shared::authority::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's write model table is out of date; replace it with:\n\n{table}"
    );
}
