//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-<name>` and the
//! inputs of fixed findings into `fuzz/regressions/<target>/<name>` (under the directory given
//! as the first argument instead of `fuzz/`), leaving files already there alone.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz"));
    let mut written = 0;
    let seeds = zoufang_fuzzing::seeds::seeds()?
        .into_iter()
        .map(|s| ("corpus", format!("seed-{}", s.name), s));
    let regressions = zoufang_fuzzing::seeds::regressions()
        .into_iter()
        .map(|s| ("regressions", s.name.clone(), s));
    for (kind, name, seed) in seeds.chain(regressions) {
        let dir = root.join(kind).join(seed.target);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, &seed.bytes)?;
            written += 1;
        }
    }
    println!("{written} seeds written under {}", root.display());
    Ok(())
}
