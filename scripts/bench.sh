#!/usr/bin/env bash
# Builds the benchmarks and holdfast with tsc (the code users run; tsx's transform would add
# its own per-closure cost) and runs one: scripts/bench.sh keepalive-race|overhead [options]
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
npx tsc -p tsconfig.bench.json
cp bench/*.mjs .bench-build/bench/
cp -r assets .bench-build/
exec node ".bench-build/bench/${name}.js" "$@"
