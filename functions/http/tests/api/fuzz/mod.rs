//! Fuzz targets for every parser of untrusted input, run as proptest properties (cargo-fuzz
//! needs a nightly toolchain; these run on stable, in CI, inside `cargo test`).
//!
//! Each target is a plain function that panics when an invariant breaks; proptest feeds it
//! arbitrary input, structured near-valid input and mutations of the seed corpus in
//! `fuzz/corpus/<target>/`, and every file of that corpus is replayed as a regression test.
//! Failures proptest finds are kept in `fuzz/regressions/<target>.txt` and replayed first.
//!
//! Cases per property: a default per target (a few hundred to a few thousand, a few seconds in
//! all), or `PROPTEST_CASES` for every property. A long local run:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release -p portal-http --test api fuzz::
//! ```

mod bodies;
mod callback;
mod certificate;
mod cookies;
mod domain;
mod http_edge;
mod tokens;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// The proptest configuration of one target: its regression file, and `default_cases` unless
/// `PROPTEST_CASES` says otherwise.
pub fn config(target: &str, default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let path: &'static str = Box::leak(format!("fuzz/regressions/{target}.txt").into_boxed_str());
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        // Shrinking a failure of a cheap target is quick; keep it bounded for the slow ones.
        max_shrink_iters: 4096,
        ..Config::default()
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

/// Every seed input of a target, sorted by file name.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "the corpus of {target} is empty");
    seeds
}

/// Runs `target` on every seed of its corpus, naming the seed that fails.
pub fn replay(target: &str, run: impl Fn(&[u8])) {
    for (name, bytes) in corpus(target) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bytes)));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("fuzz/corpus/{target}/{name}: {message}");
        }
    }
}

/// One edit of a byte string, positions taken modulo its length (so they shrink well).
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
    Duplicate { at: usize, len: usize },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..32).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

/// Applies `edits` to a copy of `seed`.
pub fn mutate(seed: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for edit in edits {
        let len = out.len();
        let pos = |at: usize| if len == 0 { 0 } else { at % len };
        match edit {
            Mutation::Flip { at, bit } if len > 0 => out[pos(*at)] ^= 1 << bit,
            Mutation::Set { at, byte } if len > 0 => out[pos(*at)] = *byte,
            Mutation::Insert { at, bytes } => {
                let at = if len == 0 { 0 } else { at % (len + 1) };
                out.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete { at, len: n } if len > 0 => {
                let start = pos(*at);
                let end = (start + n).min(len);
                out.drain(start..end);
            }
            Mutation::Truncate { at } => out.truncate(if len == 0 { 0 } else { at % len }),
            Mutation::Duplicate { at, len: n } if len > 0 => {
                let start = pos(*at);
                let end = (start + n).min(len);
                let chunk: Vec<u8> = out[start..end].to_vec();
                out.splice(end..end, chunk);
            }
            _ => {}
        }
    }
    out
}

/// One seed of `target`'s corpus, chosen by proptest.
pub fn seed(target: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    prop::sample::select(seeds)
}

/// Text edits for string inputs: a mutation of the UTF-8 bytes, read back lossily.
pub fn mutate_text(seed: &str, edits: &[Mutation]) -> String {
    String::from_utf8_lossy(&mutate(seed.as_bytes(), edits)).into_owned()
}

#[test]
fn mutations_stay_in_bounds() {
    // The harness itself: every edit on every length, including empty input.
    for len in 0..4 {
        let seed = vec![b'a'; len];
        for edit in [
            Mutation::Flip { at: 7, bit: 3 },
            Mutation::Set { at: 9, byte: 0 },
            Mutation::Insert {
                at: 5,
                bytes: vec![1, 2],
            },
            Mutation::Delete { at: 2, len: 9 },
            Mutation::Truncate { at: 1 },
            Mutation::Duplicate { at: 3, len: 9 },
        ] {
            let _ = mutate(&seed, &[edit]);
        }
    }
    assert_eq!(mutate(b"abc", &[Mutation::Truncate { at: 2 }]), b"ab");
    assert_eq!(
        mutate(
            b"abc",
            &[Mutation::Insert {
                at: 3,
                bytes: vec![b'd']
            }]
        ),
        b"abcd"
    );
}
