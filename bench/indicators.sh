#!/usr/bin/env bash
# The cost of the web-shell indicators in the hashing pass (issue 11): a
# full baseline of the reference tree (bench/setup.sh) with the indicators
# on (the default) and off, in interleaved rounds. Each round creates a
# first baseline both ways, one after the other, in a new database: every
# script of the tree is scanned (a first baseline has no previous content
# to skip), the worst case. The ratio on/off is taken within each round;
# the medians and quartiles of the per-round ratios, of wall and of CPU
# time (user + system), are printed against the target (on/off <= 1.15).
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

# timed NAME CMD...: runs CMD on a new database, appends its wall time
# and its CPU time (user + system, s) to NAME's lists. On a shared
# machine the CPU time is the steadier measure of the added work.
timed() {
	local name=$1 e u s
	shift
	rm -f "$db"
	/usr/bin/time -f '%e %U %S' -o "$out/time" "$@" >/dev/null 2>&1 || {
		echo "indicators: $name failed: $*" >&2
		exit 1
	}
	read -r e u s <"$out/time"
	echo "$e" >>"$out/$name.times"
	echo "$u $s" | awk '{printf "%.3f\n", $1 + $2}' >>"$out/$name.cpu"
}

names=(off on)
for n in "${names[@]}"; do rm -f "$out/$n.times" "$out/$n.cpu"; done
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

printf '%-28s %8s %8s %8s\n' "baseline create --full (s)" q1 median q3
for n in "${names[@]}"; do
	read -r a b c < <(quartiles "$out/$n.times")
	printf '%-28s %8.3f %8.3f %8.3f\n' "wall, indicators $n" "$a" "$b" "$c"
	read -r a b c < <(quartiles "$out/$n.cpu")
	printf '%-28s %8.3f %8.3f %8.3f\n' "cpu, indicators $n" "$a" "$b" "$c"
done
echo
printf '%-28s %6s %6s %6s  %-8s %s\n' "ratio on/off (per round)" q1 median q3 target result
for m in times cpu; do
	paste "$out/on.$m" "$out/off.$m" | awk '{printf "%.6f\n", $1 / $2}' >"$out/ratio.$m"
	read -r a b c < <(quartiles "$out/ratio.$m")
	result=$(awk -v v="$b" 'BEGIN { print (v <= 1.15) ? "PASS" : "FAIL" }')
	label="wall time"
	[ "$m" = cpu ] && label="cpu time"
	printf '%-28s %6.3f %6.3f %6.3f  %-8s %s\n' "$label" "$a" "$b" "$c" "<= 1.15" "$result"
done
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at end"
