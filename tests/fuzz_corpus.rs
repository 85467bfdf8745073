//! Replays the fuzz corpus (tests/fuzz/corpus, grown by `scripts/fuzz.sh`)
//! through the fuzz targets' bodies: every input the fuzzer ever kept still
//! runs without a panic or a broken invariant, on the stable toolchain.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "no corpus for {target} in {}", dir.display());
}

#[test]
fn resp_corpus() {
    replay("resp", synod::fuzzing::resp);
}

#[test]
fn frames_corpus() {
    replay("frames", synod::fuzzing::frames);
}

#[test]
fn handshake_corpus() {
    replay("handshake", synod::fuzzing::handshake);
}

#[test]
fn node_corpus() {
    replay("node", synod::fuzzing::node);
}
