#!/usr/bin/env bash
# Where webfim spends its time on the reference tree (bench/setup.sh):
# CPU profiles, taken with perf, of `baseline create --full` and `diff`,
# printed as the hottest functions by self time, so a failing target of
# bench/run.sh can be traced to code. Needs perf (Debian: linux-perf).
# Usage: bash bench/profile.sh [COMMAND...]
#   COMMAND: full (default), incr, diff, diff-fast; several may be given.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
webfim="$work/webfim"
db="$work/profile.db"
out="$work/profile"
command -v perf >/dev/null || {
	echo "profile: perf is missing (apt-get install linux-perf)" >&2
	exit 1
}
[ -d "$ref" ] || {
	echo "profile: $ref is missing: run bash bench/setup.sh first" >&2
	exit 1
}
mkdir -p "$out"
(cd "$repo" && go build -o "$webfim" ./cmd/webfim)

# A baseline for incr/diff to compare with.
rm -f "$db"
"$webfim" --db "$db" --quiet baseline create --root "$ref" --full

[ $# -gt 0 ] || set -- full
for what in "$@"; do
	case $what in
	full) cmd=(baseline create --root "$ref" --full) ;;
	incr) cmd=(baseline create --root "$ref") ;;
	diff) cmd=(diff) ;;
	diff-fast) cmd=(diff --fast) ;;
	*)
		echo "profile: unknown command $what (full, incr, diff, diff-fast)" >&2
		exit 2
		;;
	esac
	echo "== $what: webfim ${cmd[*]}"
	perf record -q -F 1999 -g -o "$out/$what.perf.data" -- \
		"$webfim" --db "$db" --quiet "${cmd[@]}" >/dev/null 2>"$out/$what.err" || true
	echo "-- by self time (function)"
	perf report -i "$out/$what.perf.data" --stdio --no-children -g none --sort symbol --percent-limit 1 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 30
	echo "-- by self time (binary: webfim or kernel)"
	perf report -i "$out/$what.perf.data" --stdio --no-children -g none --sort dso --percent-limit 1 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 8
	echo "-- inclusive time of webfim's own packages"
	perf report -i "$out/$what.perf.data" --stdio --children -g none --sort symbol 2>/dev/null |
		grep -E 'webfim/(baseline|store|cmd)|main\.' | head -n 20
done
echo "perf data kept in $out (perf report -i FILE)"
