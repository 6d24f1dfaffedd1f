#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine crate with AFL++ through cargo-afl, on stable Rust.
# Targets (code in crates/core/tests/support/targets.rs, seeds in fuzz/corpus/<target>/):
# ops, ids, session_file, cookie. Each runs FUZZ_SECONDS (default 600) from its committed corpus; the
# findings go to fuzz/target/afl/<target>/. Exits 1 when any target crashed (a panic: a
# difference from the model, a broken invariant, an undocumented outcome), naming the inputs.
#   npm run fuzz                              # 10 minutes per target
#   FUZZ_SECONDS=20 FUZZ_TARGETS=ids npm run fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-600}
targets=${FUZZ_TARGETS:-ops ids session_file cookie}
# The version fuzz/Cargo.toml pins for the afl crate; its install also builds AFL++.
afl_version=0.18.2

if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $afl_version "; then
  cargo install cargo-afl --version "$afl_version" --locked
  # Builds AFL++ unless the install did already (then it only says so).
  cargo afl config --build >/dev/null 2>&1 || true
fi
cargo afl build --release --manifest-path fuzz/Cargo.toml

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_QUIET=1
failed=0
for target in $targets; do
  out=fuzz/target/afl/$target
  rm -rf "$out"
  mkdir -p "$out"
  echo "== fuzz $target for ${seconds}s"
  # -t: a slow execution on a loaded machine is not a hang below 2 s.
  cargo afl fuzz -V "$seconds" -t 2000 -i "fuzz/corpus/$target" -o "$out" \
    -- "fuzz/target/release/$target" >"$out/afl.log" 2>&1 || {
    tail -20 "$out/afl.log"
    echo "afl-fuzz failed on $target"
    failed=1
    continue
  }
  stats=$out/default/fuzzer_stats
  field() { sed -n "s/^$1 *: //p" "$stats"; }
  echo "$target: $(field execs_done) execs in $(field run_time)s ($(field execs_per_sec)/s)," \
    "corpus $(field corpus_count), edges $(field edges_found)/$(field total_edges)" \
    "($(field bitmap_cvg)), crashes $(field saved_crashes), hangs $(field saved_hangs)"
  crashes=$(find "$out/default/crashes" -type f ! -name README.txt 2>/dev/null || true)
  if [ -n "$crashes" ]; then
    echo "$target crashed; replay with: fuzz/target/release/$target < FILE"
    echo "$crashes"
    failed=1
  fi
done
exit "$failed"
