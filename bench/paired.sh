#!/usr/bin/env bash
# Interleaved timing of the ratios issue 2 sets between webfim's own
# commands and the bare read, on the reference tree (bench/setup.sh).
#
# bench/run.sh times each command RUNS times in a row: on a shared machine
# whose speed drifts by 10-20% from one minute to the next, two commands
# timed a minute apart can be measured in different "weather". Here every
# round runs each command once, one after the other (bareread, full,
# incremental, diff, diff --fast), and each ratio is computed within its
# round; the medians of the per-round ratios are printed, with their
# spread (first and third quartiles), next to the medians of the times.
#
# Usage: bash bench/paired.sh [-n ROUNDS] [-w WORKERS]
#   ROUNDS   default 15
#   WORKERS  bareread workers (default: nproc)
# Timing uses bash's $EPOCHREALTIME around each command (no fork of a
# timer); setup steps (removing or pruning the database) are untimed.
set -euo pipefail

rounds=15
workers=$(nproc)
while getopts n:w: opt; do
	case $opt in
	n) rounds=$OPTARG ;;
	w) workers=$OPTARG ;;
	*)
		echo "usage: bash bench/paired.sh [-n ROUNDS] [-w WORKERS]" >&2
		exit 2
		;;
	esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
[ -d "$ref" ] || {
	echo "paired: $ref is missing: run bash bench/setup.sh first" >&2
	exit 1
}
out="$work/paired"
mkdir -p "$out"
webfim="$work/webfim"
(cd "$repo" && go build -o "$work/bareread" ./bench/bareread && go build -o "$webfim" ./cmd/webfim)
dbfull="$work/paired-full.db"
dbincr="$work/paired-incr.db"

echo "commit:  $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet || echo ' (modified)')"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "rounds:  $rounds"

# Warm the page cache and set up the database the incremental commands
# compare with (as run.sh does: the web root only, no server discovery).
"$work/bareread" -workers "$workers" "$ref" >/dev/null 2>&1
rm -f "$dbincr"
"$webfim" --db "$dbincr" --quiet baseline create --root "$ref" --full --no-discover

# timed NAME CMD...: runs CMD, appends its wall time (s) to NAME's list;
# a failure (or differences reported by diff: exit 1-7) aborts.
timed() {
	local name=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>&1 || {
		echo "paired: $name failed: $*" >&2
		exit 1
	}
	t1=$EPOCHREALTIME
	echo "$t0 $t1" | awk '{printf "%.6f\n", $2 - $1}' >>"$out/$name.times"
}

names=(bareread full incr diff diff_fast)
for n in "${names[@]}"; do rm -f "$out/$n.times"; done
for ((i = 1; i <= rounds; i++)); do
	timed bareread "$work/bareread" -workers "$workers" "$ref"
	rm -f "$dbfull"
	timed full "$webfim" --db "$dbfull" --quiet baseline create --root "$ref" --full --no-discover
	"$webfim" --db "$dbincr" --quiet baseline prune --keep 1
	timed incr "$webfim" --db "$dbincr" --quiet baseline create --root "$ref" --no-discover
	timed diff "$webfim" --db "$dbincr" --quiet diff
	timed diff_fast "$webfim" --db "$dbincr" --quiet diff --fast
	printf '.'
done
echo

# quartiles FILE: first quartile, median and third quartile of a column.
quartiles() {
	sort -g "$1" | awk '{a[NR] = $1}
		function q(p,  i) { i = 1 + (NR - 1) * p; return a[int(i)] + (i - int(i)) * (a[int(i) + 1] - a[int(i)]) }
		END { printf "%.4f %.4f %.4f\n", q(0.25), q(0.5), q(0.75) }'
}

printf '%-12s %8s %8s %8s\n' command q1 median q3
for n in "${names[@]}"; do
	read -r a b c < <(quartiles "$out/$n.times")
	printf '%-12s %8.3f %8.3f %8.3f\n' "$n" "$a" "$b" "$c"
done
echo
printf '%-22s %6s %6s %6s  %-8s %s\n' "ratio (per round)" q1 median q3 target result
# ratio LABEL NUM DEN OP TARGET
ratio() {
	local label=$1 num=$2 den=$3 op=$4 target=$5 a b c result
	local file="$out/${num}_over_${den}.ratios"
	paste "$out/$num.times" "$out/$den.times" | awk '{printf "%.6f\n", $1 / $2}' >"$file"
	read -r a b c < <(quartiles "$file")
	result=$(awk -v v="$b" -v t="$target" -v op="$op" 'BEGIN { ok = (op == "<=") ? v <= t : v >= t; print ok ? "PASS" : "FAIL" }')
	printf '%-22s %6.3f %6.3f %6.3f  %-8s %s\n' "$label" "$a" "$b" "$c" "$op $target" "$result"
}
ratio full/bareread full bareread "<=" 1.3
ratio incr/full incr full "<=" 0.3
ratio diff_fast/diff diff_fast diff "<=" 0.3
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at end"
