#!/usr/bin/env bash
# Builds the benchmarks and holdfast with tsc (the code users run; tsx's transform would add
# its own per-closure cost) and runs one: scripts/bench.sh keepalive-race|overhead [options]
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
npx tsc -p tsconfig.bench.json
mkdir -p .bench-build/bench/peers .bench-build/bench/fixtures
cp bench/peers/*.mjs .bench-build/bench/peers/
cp bench/fixtures/*.mjs .bench-build/bench/fixtures/
cp -r assets .bench-build/
exec node ".bench-build/bench/runners/${name}.js" "$@"
