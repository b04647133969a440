#!/usr/bin/env bash
# One fuzz campaign, the way the figures in BENCHMARKS.md ("Fuzzing") were made:
#
#   fuzz/run.sh TARGET [SECONDS]      (default 600; TARGET: see `cargo fuzz list`)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler. cargo-fuzz wants a
# nightly compiler for -Zsanitizer; RUSTC_BOOTSTRAP=1 lets the stable one accept it.
# Runs ONE libFuzzer process (no -jobs/-fork: a single in-process worker), at nice 19.
# The corpus grows in fuzz/corpus/TARGET (not committed), seeded from the committed seeds,
# the parser fixtures in daemon/tests/data and fuzz/regressions/TARGET. Crashes land in
# fuzz/artifacts/TARGET/; once fixed, copy them to fuzz/regressions/TARGET/ so that
# `cargo test --test fuzz_regressions` replays them. The log is fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
secs=${2:-600}
data=../daemon/tests/data

case $target in
frame_decoder) seeds=(seeds/frame_decoder/*) ;;
parse_nmap) seeds=("$data"/nmap-*) ;;
parse_sslscan) seeds=("$data"/sslscan-*) ;;
parse_whatweb) seeds=("$data"/whatweb-*) ;;
parse_testssl) seeds=("$data"/testssl-*) ;;
parse_nuclei) seeds=("$data"/nuclei-*) ;;
parse_generic) seeds=("$data"/gobuster-* "$data"/nuclei-*) ;;
*) echo "unknown target $target" >&2; exit 2 ;;
esac

# The bundled SQLite (linked in through picketd, never called by a target) defines two
# static arrays of the same name, which ASan's one-definition-rule check reports at start.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

mkdir -p "corpus/$target" "artifacts/$target" logs
cp -n "${seeds[@]}" "corpus/$target/"
if [ -d "regressions/$target" ]; then cp -n "regressions/$target"/* "corpus/$target/" 2>/dev/null || true; fi

args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
      -artifact_prefix="artifacts/$target/")
dict=dicts/${target#parse_}.dict
[ -f "$dict" ] && args+=(-dict="$dict")

echo "$(date -u +%FT%TZ) ASAN_OPTIONS=$ASAN_OPTIONS RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -O -a $target corpus/$target -- ${args[*]}" \
    | tee "logs/$target.log"
set +e
RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -O -a "$target" "corpus/$target" -- "${args[@]}" \
    2>&1 | tee -a "logs/$target.log" | grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|==[0-9]+==|SUMMARY|Done|thread|.*panicked|.*artifact)'
status=${PIPESTATUS[0]}
exit "$status"
