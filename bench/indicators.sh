#!/usr/bin/env bash
# The cost of the web-shell indicators in the hashing pass (issue 11): a
# full baseline of the reference tree (bench/setup.sh) with the indicators
# on (the default) and off, in interleaved rounds. Each round creates a
# first baseline both ways, one after the other, in a new database: every
# script of the tree is scanned (a first baseline has no previous content
# to skip), the worst case. The ratio on/off is taken within each round;
# the medians and quartiles of the per-round ratios are printed against
# the target (on/off <= 1.15).
#
# Usage: bash bench/indicators.sh [-n ROUNDS]
#   ROUNDS  default 11
set -euo pipefail

rounds=11
while getopts n: opt; do
	case $opt in
	n) rounds=$OPTARG ;;
	*)
		echo "usage: bash bench/indicators.sh [-n ROUNDS]" >&2
		exit 2
		;;
	esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
[ -d "$ref" ] || {
	echo "indicators: $ref is missing: run bash bench/setup.sh first" >&2
	exit 1
}
out="$work/indicators"
mkdir -p "$out"
webfim="$work/webfim"
(cd "$repo" && go build -o "$work/bareread" ./bench/bareread && go build -o "$webfim" ./cmd/webfim)
db="$work/indicators.db"
printf 'indicators:\n  enabled: true\n' >"$out/on.yml"
printf 'indicators:\n  enabled: false\n' >"$out/off.yml"

echo "commit:  $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet || echo ' (modified)')"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "rounds:  $rounds"

# Warm the page cache; count what the indicators look at.
"$work/bareread" -workers "$(nproc)" "$ref" >/dev/null 2>&1
rm -f "$db"
"$webfim" --db "$db" --config "$out/on.yml" --quiet baseline create --root "$ref" --full --no-discover 2>"$out/flagged.txt" || true
echo "flagged: $(grep -c 'about to be trusted' "$out/flagged.txt" || true) files of the tree at medium or above (see $out/flagged.txt)"

# timed NAME CMD...: runs CMD on a new database, appends its wall time (s).
timed() {
	local name=$1 t0 t1
	shift
	rm -f "$db"
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>&1 || {
		echo "indicators: $name failed: $*" >&2
		exit 1
	}
	t1=$EPOCHREALTIME
	echo "$t0 $t1" | awk '{printf "%.6f\n", $2 - $1}' >>"$out/$name.times"
}

names=(off on)
for n in "${names[@]}"; do rm -f "$out/$n.times"; done
for ((i = 1; i <= rounds; i++)); do
	# Alternate the order so that neither side always runs second.
	if ((i % 2)); then order=(off on); else order=(on off); fi
	for n in "${order[@]}"; do
		timed "$n" "$webfim" --db "$db" --config "$out/$n.yml" --quiet baseline create --root "$ref" --full --no-discover
	done
	printf '.'
done
echo
rm -f "$db"

quartiles() {
	sort -g "$1" | awk '{a[NR] = $1}
		function q(p,  i) { i = 1 + (NR - 1) * p; return a[int(i)] + (i - int(i)) * (a[int(i) + 1] - a[int(i)]) }
		END { printf "%.4f %.4f %.4f\n", q(0.25), q(0.5), q(0.75) }'
}

printf '%-24s %8s %8s %8s\n' "baseline create --full" q1 median q3
for n in "${names[@]}"; do
	read -r a b c < <(quartiles "$out/$n.times")
	printf '%-24s %8.3f %8.3f %8.3f\n' "indicators $n" "$a" "$b" "$c"
done
echo
paste "$out/on.times" "$out/off.times" | awk '{printf "%.6f\n", $1 / $2}' >"$out/ratio"
read -r a b c < <(quartiles "$out/ratio")
result=$(awk -v v="$b" 'BEGIN { print (v <= 1.15) ? "PASS" : "FAIL" }')
printf '%-24s %6s %6s %6s  %-8s %s\n' "ratio on/off (per round)" q1 median q3 target result
printf '%-24s %6.3f %6.3f %6.3f  %-8s %s\n' "" "$a" "$b" "$c" "<= 1.15" "$result"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at end"
