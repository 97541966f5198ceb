#!/usr/bin/env bash
# The release build the benchmarks measure: one static binary, .build/release/kumo.
#
# Beyond `swift build -c release --static-swift-stdlib`, three link-time choices keep what a running kumo
# holds in memory small (idle RSS ~27 MiB instead of ~47 on the bench machine), and one compile-time choice
# saves CPU:
# - every function gets its own section and LLD (shipped with the Swift toolchain) lays out first the
#   functions in Scripts/startup-order.txt — what kumo runs while starting and answering its first calls —
#   so that code sits in a few MiB instead of keeping most of the ~30 MiB of code resident (the kernel maps
#   file pages in windows and large folios). Regenerate the list with Scripts/startup-order.py after large
#   changes; a stale list costs memory, never correctness;
# - relative relocations packed (DT_RELR, glibc 2.36+): the dynamic loader reads 30 KiB instead of 3 MiB;
# - no dynamic symbol table of every Swift symbol (swiftc links executables with --export-dynamic; nothing in
#   kumo looks its own symbols up at run time);
# - no run-time exclusivity checks (`-enforce-exclusivity=unchecked`): every access to a class property or
#   global otherwise goes through swift_beginAccess/endAccess, ~8% of the instructions of a cached CloudFront
#   hit. The debug build that the tests run keeps the checks, so a violation still fails there.
set -euo pipefail
cd "$(dirname "$0")/.."
# The order file is not an input SwiftPM tracks: remove the binary so that the link always reads it.
rm -f "$(swift build -c release --show-bin-path "$@")/kumo"
exec swift build -c release --static-swift-stdlib --product kumo \
  -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
  -Xswiftc -use-ld=lld -Xswiftc -enforce-exclusivity=unchecked \
  -Xlinker --symbol-ordering-file="$PWD/Scripts/startup-order.txt" -Xlinker --no-warn-symbol-ordering \
  -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
  "$@"
