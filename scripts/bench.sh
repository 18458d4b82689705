#!/usr/bin/env bash
# Builds the packages and the benchmarks with tsc (the code users run; tsx's transform would add
# its own per-closure cost) and runs one: scripts/bench.sh keepalive-race|overhead [options]
# The benchmarks import the packages by name (holdfast, @holdfast/proxy…): their dist/ builds.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
npx tsc -b tsconfig.build.json
npx tsc -p tsconfig.bench.json
mkdir -p .bench-build/bench/peers .bench-build/bench/fixtures
cp bench/peers/*.mjs .bench-build/bench/peers/
cp bench/fixtures/*.mjs .bench-build/bench/fixtures/
# The Node the project brings (package.json's node devDependency), not whatever is first on PATH:
# a machine's own Node may be an older line (run directly, not through npm run bench:*).
node_bin="node_modules/.bin/node"
[ -x "$node_bin" ] || node_bin=node
exec "$node_bin" ".bench-build/bench/runners/${name}.js" "$@"
