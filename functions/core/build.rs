//! Compiles the bundled common-password list into a sorted static array, so checking a new
//! password is a binary search with no start-up cost (no decompression, no hash set built at
//! cold start).

use std::io::{Read, Write};

fn main() {
    let source = "data/common-passwords.txt.gz";
    println!("cargo:rerun-if-changed={source}");
    let mut text = String::new();
    let file = std::fs::File::open(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{source}: {e}"));
    let mut words: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect();
    words.sort();
    words.dedup();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}")))
        .join("common_passwords.rs");
    let mut file = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let mut body = String::from(
        "/// Common passwords, lower case, sorted, deduplicated.\npub static COMMON_PASSWORDS: &[&str] = &[\n",
    );
    for word in &words {
        body.push_str(&format!("    {word:?},\n"));
    }
    body.push_str("];\n");
    file.write_all(body.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
