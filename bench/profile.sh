#!/usr/bin/env bash
# Where webfim spends its time on the reference tree (bench/setup.sh):
# CPU profiles, taken with perf, of `baseline create --full` and `diff`,
# printed as the hottest functions by self time, so a failing target of
# bench/run.sh can be traced to code. Needs perf (Debian: linux-perf).
# Usage: [DISCOVER=1] bash bench/profile.sh [COMMAND...]
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

# As in run.sh, the web root only (no server config discovery) unless
# DISCOVER=1.
scope=()
if [ "${DISCOVER:-0}" != 1 ] && [[ $("$webfim" baseline create --help 2>&1) == *--no-discover* ]]; then
	scope=(--no-discover)
fi

# A baseline for incr/diff to compare with.
rm -f "$db"
"$webfim" --db "$db" --quiet baseline create --root "$ref" --full "${scope[@]}"

# report WHAT PERF-REPORT-OPTIONS...: a flat perf report, without the
# header and the empty trailing columns.
report() {
	local what=$1
	shift
	perf report -i "$out/$what.perf.data" --stdio -g none "$@" 2>/dev/null |
		grep -v -e '^#' -e '^$' | sed 's/[ -]*$//'
}

[ $# -gt 0 ] || set -- full
for what in "$@"; do
	case $what in
	full) cmd=(baseline create --root "$ref" --full "${scope[@]}") ;;
	incr) cmd=(baseline create --root "$ref" "${scope[@]}") ;;
	diff) cmd=(diff) ;; # the roots and configs of the baseline
	diff-fast) cmd=(diff --fast) ;;
	*)
		echo "profile: unknown command $what (full, incr, diff, diff-fast)" >&2
		exit 2
		;;
	esac
	echo "== $what: webfim ${cmd[*]}"
	perf record -q -F 1999 -g -o "$out/$what.perf.data" -- \
		"$webfim" --db "$db" --quiet "${cmd[@]}" >/dev/null 2>"$out/$what.err" || true
	# head closes the pipes early: their status is not an error here.
	echo "-- by self time (function)"
	report "$what" --no-children --sort symbol --percent-limit 1 | head -n 30 || true
	echo "-- by self time (binary: webfim or kernel)"
	report "$what" --no-children --sort dso --percent-limit 1 | head -n 8 || true
	echo "-- inclusive time of webfim's own packages"
	report "$what" --children --sort symbol | grep -E 'webfim/(baseline|store|scan|serverconf)|main\.' | head -n 25 || true
done
echo "perf data kept in $out (perf report -i FILE)"
