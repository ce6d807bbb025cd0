#!/usr/bin/env bash
# Cost of tamper-evident baselines (issue 14), printed in one run:
#  1. baseline create --full with the digest vs without it (the same tree
#     built with the tag webfim_nodigest, whose store writer computes no
#     digest: only the digest's cost differs), on the reference tree
#     (bench/setup.sh), interleaved rounds, median of the per-round ratios
#     (target: at most 3% apart);
#  2. baseline verify of a 1,000,000-file baseline (bench/gentree tree,
#     as bench/rss.sh makes it; 1.1M records with the directories), 5
#     runs: median wall time (target < 3 s), median CPU time, and peak RSS
#     (target < 150 MB), with GNU time;
#  3. the export file size per record.
# Usage: bash bench/trust.sh [-n ROUNDS] [-f FILES]
set -euo pipefail

rounds=11
files=1000000
while getopts n:f: opt; do
	case $opt in
	n) rounds=$OPTARG ;;
	f) files=$OPTARG ;;
	*)
		echo "usage: bash bench/trust.sh [-n ROUNDS] [-f FILES]" >&2
		exit 2
		;;
	esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
out="$work/trust"
[ -d "$ref" ] || {
	echo "trust: $ref is missing: run bash bench/setup.sh first" >&2
	exit 1
}
[ -x /usr/bin/time ] || {
	echo "trust: GNU time is missing: run bash bench/setup.sh first" >&2
	exit 1
}
mkdir -p "$out"
echo "== building webfim at $(git -C "$repo" rev-parse --short HEAD), with and without (-tags webfim_nodigest) the digest"
(cd "$repo" && go build -o "$out/webfim" ./cmd/webfim &&
	go build -tags webfim_nodigest -o "$out/webfim-nodigest" ./cmd/webfim &&
	go build -o "$work/gentree" ./bench/gentree)
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at start"

# 1. create --full, digest on vs off, interleaved. Each round prints
# "wall cpu" (cpu: user + sys): on a shared machine the CPU time moves
# less with the load than the wall time.
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S' -o "$out/round.time" "$@" >/dev/null 2>&1
	t1=$EPOCHREALTIME
	echo "$t0 $t1 $(cat "$out/round.time")" | awk '{printf "%.6f %.2f\n", $2 - $1, $3 + $4}'
}
"$out/webfim" --db "$out/warm.db" --quiet baseline create --root "$ref" --full --no-discover 2>"$out/warm.err" || { cat "$out/warm.err" >&2; exit 1; } # warm the cache, quietly
rm -f "$out/on.times" "$out/off.times" "$out/warm.db"
for ((i = 1; i <= rounds; i++)); do
	rm -f "$out/on.db" "$out/off.db"
	timed "$out/webfim-nodigest" --db "$out/off.db" --quiet baseline create --root "$ref" --full --no-discover >>"$out/off.times"
	timed "$out/webfim" --db "$out/on.db" --quiet baseline create --root "$ref" --full --no-discover >>"$out/on.times"
	printf '.'
done
echo
median() { sort -g "$1" | awk '{a[NR] = $1} END {printf "%.4f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$1"; }
paste "$out/on.times" "$out/off.times" | awk '{printf "%.6f\n", $1 / $3}' >"$out/ratio"
paste "$out/on.times" "$out/off.times" | awk '{printf "%.6f\n", $2 / $4}' >"$out/ratio.cpu"
col "$out/on.times" 1 >"$out/on.wall" && col "$out/off.times" 1 >"$out/off.wall"
col "$out/on.times" 2 >"$out/on.cpu" && col "$out/off.times" 2 >"$out/off.cpu"
records=$("$out/webfim" --db "$out/on.db" baseline list --format json | grep -o '"files": [0-9]*' | head -1 | grep -o '[0-9]*')
printf 'create --full (%s files), medians of %d rounds: wall digest on %ss, off %ss, per-round ratio on/off %s; CPU (user+sys) on %ss, off %ss, per-round ratio %s (target <= 1.03)\n' \
	"$records" "$rounds" "$(median "$out/on.wall")" "$(median "$out/off.wall")" "$(median "$out/ratio")" \
	"$(median "$out/on.cpu")" "$(median "$out/off.cpu")" "$(median "$out/ratio.cpu")"

# 2. verify of a large baseline, 3. export size.
tree="$work/tree-$files-$((files / 10))"
"$work/gentree" -files "$files" -dirs $((files / 10)) "$tree"
db="$out/large.db"
if [ ! -f "$out/large.ok" ] || [ "$(cat "$out/large.ok")" != "$files" ]; then
	rm -f "$db" "$out/key" "$out/key.pub"
	"$out/webfim" --db "$db" --quiet baseline create --root "$tree" --full --no-discover
	"$out/webfim" key generate -o "$out/key" >/dev/null 2>&1
	"$out/webfim" --db "$db" --quiet baseline sign --key "$out/key" active
	echo "$files" >"$out/large.ok"
fi
# Several runs: on a shared machine one run's wall time says more about
# the load than about verify; its CPU time (user + sys) is what it costs.
rm -f "$out/verify.wall" "$out/verify.cpu" "$out/verify.rss"
for ((i = 1; i <= 5; i++)); do
	/usr/bin/time -f '%e %U %S %M' -o "$out/verify.time" "$out/webfim" --db "$db" baseline verify --trusted-key "$out/key.pub" active >"$out/verify.out"
	grep -q '^ok: content and metadata match the signed digest' "$out/verify.out" || {
		echo "trust: verify did not pass:" >&2
		cat "$out/verify.out" >&2
		exit 1
	}
	read -r wall user sys rss <"$out/verify.time"
	echo "$wall" >>"$out/verify.wall"
	echo "$user $sys" | awk '{printf "%.2f\n", $1 + $2}' >>"$out/verify.cpu"
	echo "$rss" >>"$out/verify.rss"
done
entries=$("$out/webfim" --db "$db" baseline list --format json | awk -F': ' '/"files"|"dirs"|"symlinks"|"others"/ {gsub(/,/, "", $2); s += $2} END {print s}')
rss=$(sort -n "$out/verify.rss" | tail -1 | awk '{printf "%.1f", $1 * 1024 / 1e6}')
printf 'verify of %s records (5 runs): wall median %ss (min %ss, max %ss; target < 3 s), CPU (user+sys) median %ss, peak RSS max %s MB (target < 150 MB)\n' \
	"$entries" "$(median "$out/verify.wall")" "$(sort -g "$out/verify.wall" | head -1)" "$(sort -g "$out/verify.wall" | tail -1)" "$(median "$out/verify.cpu")" "$rss"
rm -f "$out/large.webfim"
"$out/webfim" --db "$db" --quiet baseline export -o "$out/large.webfim" active
size=$(stat -c %s "$out/large.webfim")
dbsize=$(stat -c %s "$db")
awk -v s="$size" -v n="$entries" -v d="$dbsize" 'BEGIN {printf "export: %.1f MB, %.1f bytes per record (database: %.1f bytes per record)\n", s / 1e6, s / n, d / n}'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at end"
