//! The fuzz targets (`support/targets.rs`) replayed on the committed corpus of
//! `fuzz/corpus/<target>/`, so that `cargo test` catches a regression without AFL++. The
//! corpus holds the seeds, a minimized queue of a long run, and every input that ever
//! crashed a target.

mod support;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&bytes)) {
            eprintln!("{} failed", file.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn ops_corpus_matches_the_model() {
    replay("ops", support::targets::ops);
}

#[test]
fn ids_corpus_decodes_like_the_reference() {
    replay("ids", support::targets::ids);
}

#[test]
fn session_file_corpus_parses_as_documented() {
    replay("session_file", support::targets::session_file);
}

#[test]
fn cookie_corpus_reads_like_the_reference() {
    replay("cookie", support::targets::cookie);
}
