#!/usr/bin/env bash
# Runs each parser's libFuzzer target for a bounded time (default 60 s each).
# Usage: Scripts/fuzz.sh [seconds-per-target] [targets...]   (targets: xml json cbor query sigv4 dns)
# A crash leaves its input under Fuzz/crashes/<target>/; turn it into a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets="${*:-xml json cbor query sigv4 dns}"
flags=(--build-path .build-fuzz -c debug --product KumoFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -D -Xswiftc KUMO_FUZZ)
swift build "${flags[@]}"
bin="$(swift build "${flags[@]}" --show-bin-path)/KumoFuzz"
for t in $targets; do
    mkdir -p "Fuzz/crashes/$t" "Fuzz/corpus/$t"
    echo "fuzzing $t for ${seconds}s"
    KUMO_FUZZ_TARGET="$t" "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
        -artifact_prefix="Fuzz/crashes/$t/" "Fuzz/corpus/$t"
done
