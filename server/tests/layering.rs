//! The server's layers, kept: every `crate::…` path in `src/` is read, and a module that names
//! one of a higher layer, or a set of modules that name each other in a circle, fails this test.
//! The README's "Layout" states the same rule; [`LAYERS`] is its table.
//!
//! Comments and string literals are left out (a doc link is no dependency). `lib.rs` only
//! declares the modules. The binary is a package of its own (`server/cli`): it stands on top of
//! the library and may use everything, and it alone picks a storage backend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top to bottom. A module may name modules of its own layer or of layers below it, never of a
/// layer above; within a layer the names must not go round in a circle.
const LAYERS: &[(&str, &[&str])] = &[
    // The router and the accept loop: what the binary starts.
    ("app", &["app", "serve"]),
    // HTTP in and out: the JSON APIs of devices and of review (`api`), the review pages and
    // their sessions (`web`, which `api::review` shares), the API's description (which gathers
    // the JSON handlers).
    ("doors", &["api", "web", "openapi"]),
    // What the doors ask for: merging, review rules, logins, uploads, admission.
    (
        "services",
        &[
            "state",
            "review",
            "sync",
            "bundles",
            "attachments",
            "auth",
            "ratelimit",
            "heavy",
            "server_edit",
            "demo",
        ],
    ),
    // Pure rules and read models over stored data.
    (
        "domain",
        &[
            "report",
            "projection",
            "areas",
            "export",
            "spot_check",
            "standards",
        ],
    ),
    // What everything stands on.
    (
        "foundation",
        &["storage", "error", "config", "schema", "actor"],
    ),
];

/// Edges that break the rule, listed rather than hidden and checked to still exist, so that the
/// list only shrinks. None now: storage's types moved into its own crates, which cannot point
/// up, and the server's actor to the bottom.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

/// The source without comments and the contents of string and character literals.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let next = c.get(i + 1).copied();
        match c[i] {
            '/' if next == Some('/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            'r' if (next == Some('"') || next == Some('#')) && (i == 0 || !ident(c[i - 1])) => {
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            '\'' if next == Some('\\') => {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            '\'' if c.get(i + 2) == Some(&'\'') => {
                i += 3;
                out.push_str("' '");
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// The top-level modules a source names through `crate::` (and `$crate::` in macros).
fn named_modules(src: &str) -> BTreeSet<String> {
    let code = code_only(src);
    let mut out = BTreeSet::new();
    let word = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each top-level item.
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for ch in group.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        item.push(ch);
                    }
                    '}' if depth == 0 => break,
                    '}' => {
                        depth -= 1;
                        item.push(ch);
                    }
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    c => item.push(c),
                }
            }
            items.push(item);
            out.extend(items.iter().map(|i| word(i)));
        } else {
            out.insert(word(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// The top-level module a source file belongs to (`api/review.rs` → `api`), none for the crate
/// root.
fn module_of(relative: &str) -> Option<String> {
    let relative = relative.replace('\\', "/");
    if relative == "lib.rs" {
        return None;
    }
    let first = relative.split('/').next()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Everything wrong with `files` (relative path, source) under `layers` and `exceptions`.
fn problems(
    files: &[(String, String)],
    layers: &[(&str, &[&str])],
    exceptions: &[(&str, &str)],
) -> Vec<String> {
    let rank: BTreeMap<&str, (usize, &str)> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (name, modules))| modules.iter().map(move |m| (*m, (i, *name))))
        .collect();
    let excepted = |from: &str, to: &str| exceptions.contains(&(from, to));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen_exceptions = BTreeSet::new();
    let mut found = Vec::new();
    for (path, src) in files {
        let Some(from) = module_of(path) else {
            continue;
        };
        let Some(&(from_rank, from_layer)) = rank.get(from.as_str()) else {
            found.push(format!(
                "{path}: module `{from}` is in no layer; place it in the table"
            ));
            continue;
        };
        for to in named_modules(src) {
            if to == from {
                continue;
            }
            let Some(&(to_rank, to_layer)) = rank.get(to.as_str()) else {
                found.push(format!("{path}: names `crate::{to}`, which is in no layer"));
                continue;
            };
            if excepted(&from, &to) {
                seen_exceptions.insert((from.clone(), to.clone()));
                continue;
            }
            // Layers are listed top first: a lower index is a higher layer.
            if to_rank < from_rank {
                found.push(format!(
                    "{path}: `{from}` ({from_layer}) imports `{to}` ({to_layer}), a layer above it"
                ));
            }
            graph.entry(from.clone()).or_default().insert(to);
        }
    }
    for (from, to) in exceptions {
        if !seen_exceptions.contains(&((*from).to_owned(), (*to).to_owned())) {
            found.push(format!(
                "the known exception {from} → {to} is gone: take it off the list"
            ));
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        found.push(format!("modules import each other: {}", cycle.join(" → ")));
    }
    found
}

/// A circle in `graph`, as the modules along it with the first repeated at the end.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            out.push((
                relative,
                std::fs::read_to_string(&path).expect("read source"),
            ));
        }
    }
}

#[test]
fn server_modules_import_only_their_own_layer_or_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 30, "found only {} files", files.len());
    let found = problems(&files, LAYERS, KNOWN_EXCEPTIONS);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
    // The reader sees the imports it is meant to judge.
    let app = files
        .iter()
        .find(|(p, _)| p == "app.rs")
        .map(|(_, s)| named_modules(s))
        .expect("app.rs");
    assert!(
        ["api", "web", "openapi", "error", "state"]
            .iter()
            .all(|m| app.contains(*m)),
        "{app:?}"
    );
}

fn synthetic(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
        .collect()
}

#[test]
fn an_import_of_a_higher_layer_is_refused() {
    let files = synthetic(&[
        (
            "storage/mod.rs",
            "use crate::config::Config;\nuse crate::app::router;",
        ),
        ("app.rs", "use crate::storage::Database;"),
    ]);
    let found = problems(&files, LAYERS, &[]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("`storage` (foundation) imports `app` (app), a layer above it"),
        "{found:?}"
    );
    assert!(found[1].contains("app → storage → app"), "{found:?}");
    // Listed as an exception it passes; an exception nobody needs is reported.
    assert!(problems(&files, LAYERS, &[("storage", "app")]).is_empty());
    let stale = problems(&files, LAYERS, &[("storage", "app"), ("error", "web")]);
    assert_eq!(stale.len(), 1, "{stale:?}");
}

#[test]
fn a_circle_within_a_layer_is_refused() {
    let files = synthetic(&[
        ("review/mod.rs", "fn f() { crate::sync::server_actor(); }"),
        ("sync.rs", "use crate::{config, review::may_hold_devices};"),
    ]);
    let found = problems(&files, LAYERS, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("review → sync → review"), "{found:?}");
}

#[test]
fn comments_and_strings_are_no_imports_but_groups_and_paths_are() {
    let src = r##"
        //! See [`crate::app`].
        /* crate::web /* nested */ crate::web */
        use crate::{error::ApiError, storage::{self, Database}, self as root};
        const S: &str = "crate::openapi";
        const R: &str = r#"crate::api "quoted""#;
        const C: char = '"';
        fn f<'a>(x: &'a str) { crate::heavy::cpu(|| x); $crate::schema::SyncBody; }
        let y = zoufang_crate::nothing;
    "##;
    let named: Vec<String> = named_modules(src).into_iter().collect();
    assert_eq!(named, ["error", "heavy", "schema", "storage"]);
    assert_eq!(module_of("api/review.rs").as_deref(), Some("api"));
    assert_eq!(module_of("auth.rs").as_deref(), Some("auth"));
    assert_eq!(module_of("lib.rs"), None);
}

/// The library names no storage backend: the binaries pick one, so a change in a backend
/// crate does not rebuild the application (read from `cargo metadata`).
#[test]
fn the_library_depends_on_the_storage_traits_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let server = metadata["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "zoufang-server"))
        .expect("the zoufang-server package");
    let normal: Vec<&str> = server["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(normal.contains(&"zoufang-storage"), "{normal:?}");
    for backend in [
        "zoufang-storage-sqlite",
        "zoufang-storage-postgres",
        "zoufang-storage-any",
    ] {
        assert!(
            !normal.contains(&backend),
            "the library depends on {backend}"
        );
    }
}

#[test]
fn a_module_in_no_layer_is_refused() {
    let files = synthetic(&[("newthing.rs", "use crate::storage::Database;")]);
    let found = problems(&files, LAYERS, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
}

/// Files of the supervisors' doors (pages and the review API) that reach the state's databases
/// themselves (`….db`, `….reports`), rather than through `review::Review`. The sessions module
/// is the one exception: it opens and closes sessions, before there is a user to review as.
fn doors_past_review(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(p, _)| (p.starts_with("web/") && p != "web/session.rs") || p == "api/review.rs")
        .filter(|(_, src)| {
            let code = code_only(src);
            code.contains(".db") || code.contains(".reports")
        })
        .map(|(p, _)| p.clone())
        .collect()
}

#[test]
fn supervisors_doors_reach_storage_only_through_review() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let doors = files
        .iter()
        .filter(|(p, _)| p.starts_with("web/") || p == "api/review.rs")
        .count();
    assert!(doors > 5, "found only {doors} door files");
    let past = doors_past_review(&files);
    assert!(past.is_empty(), "these query storage past review: {past:?}");
    // The check can fail: a handler counting rows on its own is caught.
    let bad = synthetic(&[(
        "web/report.rs",
        "async fn page(state: S) { state.db.roster_count(&f).await; }",
    )]);
    assert_eq!(doors_past_review(&bad), ["web/report.rs"]);
}
