//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-<name>` (or under
//! the directory given as the first argument), leaving files already there alone.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"));
    let mut written = 0;
    for seed in zoufang_fuzzing::seeds::seeds()? {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("seed-{}", seed.name));
        if !path.exists() {
            std::fs::write(&path, &seed.bytes)?;
            written += 1;
        }
    }
    println!("{written} seeds written under {}", root.display());
    Ok(())
}
