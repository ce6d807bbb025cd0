#!/usr/bin/env bash
# Times webfim against its peers on the reference tree (bench/setup.sh),
# in one run and on a warm page cache, and prints medians and the ratios
# that issue 2 targets:
#   bareread          bare parallel read of every file (bench/bareread)
#   hashread          the same plus BLAKE3 and SHA-256 of scripts (bareread -hash)
#   aide_init         aide --init, sha256 rule p+i+n+u+g+s+m+c+sha256, num_workers=2
#   webfim_full       webfim baseline create --full (fresh database each run)
#   webfim_incr       webfim baseline create (incremental, nothing changed)
#   aide_check        aide --check against the aide --init database
#   webfim_diff       webfim diff (full re-hash, nothing changed)
#   webfim_diff_fast  webfim diff --fast
# Usage: bash bench/run.sh [-n RUNS] [-w WORKERS] [-c REF] [NAME...]
#   RUNS     repetitions per command, median reported (default 5)
#   WORKERS  bareread workers and AIDE num_workers (default: nproc)
#   REF      also time the webfim commands of the git commit REF (e.g. main
#            or HEAD~1), each right after the same command of this tree,
#            and print the two side by side (base_* in the results): a
#            regression check in one run, on the same machine weather
#   NAME     time only these commands and keep the other figures of the
#            previous run (to redo a disturbed measurement); default: all
# Commands whose webfim subcommand does not exist yet are reported as
# missing, not failed. Results are kept in bench/work/results/.
set -euo pipefail

runs=5
workers=$(nproc)
base_ref=""
while getopts n:w:c: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	w) workers=$OPTARG ;;
	c) base_ref=$OPTARG ;;
	*)
		echo "usage: bash bench/run.sh [-n RUNS] [-w WORKERS] [-c REF] [NAME...]" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
only=("$@")

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
results="$work/results"
if [ ! -d "$ref" ]; then
	echo "run: $ref is missing: run bash bench/setup.sh first" >&2
	exit 1
fi
command -v aide >/dev/null || {
	echo "run: aide is not installed: run bash bench/setup.sh first" >&2
	exit 1
}
[ ${#only[@]} -gt 0 ] || rm -rf "$results"
mkdir -p "$results"

echo "== building"
(cd "$repo" && go build -o "$work/bareread" ./bench/bareread)
webfim="$work/webfim"
if ! (cd "$repo" && go build -o "$webfim" ./cmd/webfim); then
	echo "run: go build ./cmd/webfim failed; timing the peers only" >&2
	rm -f "$webfim"
fi

# With -c REF, the webfim of commit REF, built from a copy of that commit.
base=""
if [ -n "$base_ref" ]; then
	base_commit=$(git -C "$repo" rev-parse --short "$base_ref^{commit}")
	rm -rf "$work/base-src"
	mkdir -p "$work/base-src"
	git -C "$repo" archive "$base_commit" | tar -x -C "$work/base-src"
	base="$work/webfim-base"
	(cd "$work/base-src" && go build -o "$base" ./cmd/webfim)
	rm -rf "$work/base-src"
	echo "== comparing with $base_ref ($base_commit), built as $base"
fi

# has_webfim reports whether the built webfim has the given subcommand.
has_webfim() {
	[ -x "$webfim" ] && "$webfim" "$@" --help >/dev/null 2>&1
}

q() { printf '%q ' "$@"; }

# AIDE configuration: one database file, written by --init and read by
# --check; only a one-line summary is printed, and nothing when nothing
# changed. The selection line is a regular expression, so the root is
# escaped.
aidedb="$work/aide.db"
aideconf="$work/aide.conf"
ref_re=$(printf '%s' "$ref" | sed 's/[][\.*^$+?(){}|]/\\&/g')
cat >"$aideconf" <<EOF
database_in=file:$aidedb
database_out=file:$aidedb
gzip_dbout=no
num_workers=$workers
log_level=warning
report_level=summary
report_quiet=yes
report_url=stdout
Bench = p+i+n+u+g+s+m+c+sha256
$ref_re Bench
EOF
aide --config-check -c "$aideconf"

dbincr="$work/bench-incr.db"

# Machine and load, so noisy runs can be recognised.
{
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu:     $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "memory:  $(free -m | awk '/^Mem:/ {print $2}') MiB"
	echo "kernel:  $(uname -r)"
	echo "go:      $(go version)"
	echo "aide:    $(aide --version 2>&1 | head -n 1)"
	echo "tree:    $(find "$ref" -type f | wc -l) files, $(find "$ref" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f MB", s / 1e6}')"
	echo "runs:    $runs per command, workers: $workers, timer: $(command -v hyperfine >/dev/null && hyperfine --version || echo 'bash loop')"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
} | tee "$results/machine.txt.new"
if [ ${#only[@]} -gt 0 ]; then
	echo "rerun:   ${only[*]}" >>"$results/machine.txt.new"
	cat "$results/machine.txt" >>"$results/machine.txt.new" 2>/dev/null || true
fi
mv "$results/machine.txt.new" "$results/machine.txt"

# bench NAME MAXEXIT PREPARE CMD: runs PREPARE then CMD once to check that it
# works (its exit status must be at most MAXEXIT; a difference report of
# aide or webfim is 1-7), then times RUNS repetitions of CMD, each after
# PREPARE, and records the median in $results/NAME.median.
bench() {
	local name=$1 maxexit=$2 prepare=$3 cmd=$4 rc=0
	if ! selected "$name"; then
		echo "== $name: kept from the previous run: $(cat "$results/$name.median" 2>/dev/null || echo none)"
		return 0
	fi
	echo "== $name: $cmd"
	[ -z "$prepare" ] || eval "$prepare" >/dev/null 2>&1
	eval "$cmd" >"$results/$name.out" 2>"$results/$name.err" || rc=$?
	if [ "$rc" -gt "$maxexit" ]; then
		echo "run: $name failed with exit status $rc:" >&2
		tail -n 20 "$results/$name.err" >&2
		echo "FAILED" >"$results/$name.median"
		return 0
	fi
	[ "$rc" -eq 0 ] || echo "   note: exit status $rc (differences reported; see $results/$name.out)"
	local median
	if command -v hyperfine >/dev/null; then
		local args=(--runs "$runs" --shell=bash --style=basic --export-json "$results/$name.json" -n "$name")
		[ -z "$prepare" ] || args+=(--prepare "$prepare")
		[ "$maxexit" -eq 0 ] || args+=(--ignore-failure)
		hyperfine "${args[@]}" "$cmd" >"$results/$name.hyperfine" 2>&1 || {
			cat "$results/$name.hyperfine" >&2
			echo "FAILED" >"$results/$name.median"
			return 0
		}
		median=$(json_number median "$results/$name.json")
		median=$(awk -v m="$median" 'BEGIN {printf "%.3f", m}')
		# CPU time (user + system, mean of the runs): less disturbed than
		# wall time when other processes compete for the CPUs.
		awk -v u="$(json_number user "$results/$name.json")" -v s="$(json_number system "$results/$name.json")" \
			'BEGIN {printf "%.3f\n", u + s}' >"$results/$name.cpu"
	else
		local times=() i t0 t1
		for ((i = 0; i < runs; i++)); do
			[ -z "$prepare" ] || eval "$prepare" >/dev/null 2>&1
			t0=$(date +%s%N)
			eval "$cmd" >/dev/null 2>&1 || true
			t1=$(date +%s%N)
			times+=("$(((t1 - t0) / 1000))")
		done
		printf '%s\n' "${times[@]}" >"$results/$name.times_us"
		median=$(sort -n "$results/$name.times_us" | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m / 1e6}')
	fi
	echo "$median" >"$results/$name.median"
	echo "   median ${median}s"
}

# selected NAME reports whether NAME is to be timed in this run (a
# command of the base binary, base_NAME, with NAME).
selected() {
	[ ${#only[@]} -eq 0 ] && return 0
	local n
	for n in "${only[@]}"; do
		[ "$n" = "$1" ] || [ "base_$n" = "$1" ] && return 0
	done
	return 1
}

# json_number KEY FILE: the first number of KEY in a hyperfine JSON export.
json_number() {
	grep -o "\"$1\": *[0-9.eE+-]*" "$2" | head -n 1 | sed 's/.*: *//'
}

# missing NAME WHY: records a command that cannot be timed yet.
missing() {
	echo "== $1: skipped: $2"
	echo "missing" >"$results/$1.median"
}

echo "== warm-up read (untimed)"
"$work/bareread" -workers "$workers" "$ref"

bench bareread 0 "" "$(q "$work/bareread" -workers "$workers" "$ref") 2>/dev/null"
# For information: the same read plus the digests webfim computes (BLAKE3,
# SHA-256 of scripts), the floor of any hashing walk.
bench hashread 0 "" "$(q "$work/bareread" -hash -workers "$workers" "$ref") 2>/dev/null"
bench aide_init 0 "$(q rm -f "$aidedb")" "$(q aide --init -c "$aideconf")"

# AIDE covers the reference root only; webfim also inventories the server
# configurations it discovers on the host (Apache and PHP come with the
# wordpress package), a fixed cost unrelated to the tree. The compared runs
# therefore use --no-discover; webfim_full_disc times the default command,
# with discovery, for information.
scope=()
if has_webfim baseline create && [[ $("$webfim" baseline create --help 2>&1) == *--no-discover* ]]; then
	scope=(--no-discover)
fi

# webfim_benches PREFIX BIN NAME...: times the webfim commands NAME
# (full, full_disc, incr, diff, diff_fast) of the binary BIN, recorded as
# PREFIX + webfim_NAME, each with databases of its own.
webfim_benches() {
	local prefix=$1 bin=$2 n
	shift 2
	local dbf="$work/${prefix}bench-full.db" dbi="$work/${prefix}bench-incr.db"
	for n in "$@"; do
		case $n in
		full) bench "${prefix}webfim_full" 0 "$(q rm -f "$dbf")" "$(q "$bin" --db "$dbf" --quiet baseline create --root "$ref" --full "${scope[@]}")" ;;
		full_disc)
			[ ${#scope[@]} -gt 0 ] || continue
			bench "${prefix}webfim_full_disc" 0 "$(q rm -f "$dbf")" "$(q "$bin" --db "$dbf" --quiet baseline create --root "$ref" --full)"
			;;
		incr)
			# The incremental runs start from one full baseline; pruning
			# between runs (untimed) keeps the database the same size for
			# every repetition.
			if selected "${prefix}webfim_incr" || selected "${prefix}webfim_diff" || selected "${prefix}webfim_diff_fast" || [ ! -f "$dbi" ]; then
				rm -f "$dbi"
				"$bin" --db "$dbi" --quiet baseline create --root "$ref" --full "${scope[@]}"
			fi
			bench "${prefix}webfim_incr" 0 "$(q "$bin" --db "$dbi" --quiet baseline prune --keep 1)" "$(q "$bin" --db "$dbi" --quiet baseline create --root "$ref" "${scope[@]}")"
			;;
		diff) bench "${prefix}webfim_diff" 7 "" "$(q "$bin" --db "$dbi" --quiet diff)" ;;
		diff_fast) bench "${prefix}webfim_diff_fast" 7 "" "$(q "$bin" --db "$dbi" --quiet diff --fast)" ;;
		esac
	done
}

if has_webfim baseline create && has_webfim baseline prune && has_webfim diff; then
	# With a base binary, each command of this tree is followed by the
	# same command of the base, so that both see the same weather.
	for n in full full_disc incr; do
		webfim_benches "" "$webfim" "$n"
		[ -z "$base" ] || webfim_benches base_ "$base" "$n"
	done
else
	missing webfim_full "webfim baseline create, prune or diff does not exist yet"
	missing webfim_incr "webfim baseline create, prune or diff does not exist yet"
fi

# aide --init left the database of the unchanged tree in place.
bench aide_check 7 "" "$(q aide --check -c "$aideconf")"

if has_webfim diff && [ -f "$dbincr" ]; then
	# diff covers the roots and configs of the baseline: the root only.
	for n in diff diff_fast; do
		webfim_benches "" "$webfim" "$n"
		[ -z "$base" ] || webfim_benches base_ "$base" "$n"
	done
else
	missing webfim_diff "webfim diff (or baseline create) does not exist yet"
	missing webfim_diff_fast "webfim diff (or baseline create) does not exist yet"
fi

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end" | tee -a "$results/machine.txt"

med() { cat "$results/$1.median"; }
cpu() { cat "$results/$1.cpu" 2>/dev/null || echo "-"; }

{
	echo
	printf '%-18s %12s %14s\n' command "median (s)" "cpu mean (s)"
	for n in bareread hashread aide_init webfim_full webfim_full_disc webfim_incr aide_check webfim_diff webfim_diff_fast; do
		[ -f "$results/$n.median" ] || continue
		printf '%-18s %12s %14s\n' "$n" "$(med "$n")" "$(cpu "$n")"
	done
	echo
	printf '%-24s %8s %8s  %-6s %10s\n' ratio value target result "cpu ratio"
	# ratio LABEL NUM DEN OP TARGET: the ratio of the median wall times,
	# judged against the target, and the same ratio of CPU times for
	# information.
	ratio() {
		local a b
		a=$(med "$2")
		b=$(med "$3")
		if ! [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then
			printf '%-24s %8s %8s  %s\n' "$1" "-" "$4 $5" "n/a ($2: $a, $3: $b)"
			return
		fi
		awk -v l="$1" -v a="$a" -v b="$b" -v op="$4" -v t="$5" -v ca="$(cpu "$2")" -v cb="$(cpu "$3")" 'BEGIN {
			if (b == 0) { printf "%-24s %8s %8s  %s\n", l, "-", op " " t, "n/a (zero time)"; exit }
			r = a / b
			ok = (op == ">=") ? (r >= t) : (r <= t)
			c = (ca ~ /^[0-9.]+$/ && cb ~ /^[0-9.]+$/ && cb > 0) ? sprintf("%.2f", ca / cb) : "-"
			printf "%-24s %8.2f %8s  %-6s %10s\n", l, r, op " " t, ok ? "PASS" : "FAIL", c
		}'
	}
	ratio aide_init/webfim_full aide_init webfim_full ">=" 2.5
	ratio webfim_full/bareread webfim_full bareread "<=" 1.3
	ratio aide_check/webfim_diff aide_check webfim_diff ">=" 8
	ratio webfim_incr/webfim_full webfim_incr webfim_full "<=" 0.3
	ratio diff_fast/diff_full webfim_diff_fast webfim_diff "<=" 0.3
	if [ -n "$base" ]; then
		echo
		echo "this tree against $base_ref ($base_commit), timed alternately in this run:"
		printf '%-18s %10s %10s %8s %10s %10s %8s\n' command "this (s)" "base (s)" ratio "this cpu" "base cpu" ratio
		for n in webfim_full webfim_full_disc webfim_incr webfim_diff webfim_diff_fast; do
			[ -f "$results/$n.median" ] && [ -f "$results/base_$n.median" ] || continue
			awk -v n="$n" -v a="$(med "$n")" -v b="$(med "base_$n")" -v ca="$(cpu "$n")" -v cb="$(cpu "base_$n")" 'BEGIN {
				r = (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) ? sprintf("%.2f", a / b) : "-"
				c = (ca ~ /^[0-9.]+$/ && cb ~ /^[0-9.]+$/ && cb > 0) ? sprintf("%.2f", ca / cb) : "-"
				printf "%-18s %10s %10s %8s %10s %10s %8s\n", n, a, b, r, ca, cb, c
			}'
		done
	fi
	echo
	echo "for information (no target):"
	for pair in hashread/bareread webfim_full/hashread webfim_diff/hashread; do
		a=$(med "${pair%/*}")
		b=$(med "${pair#*/}")
		[[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] || continue
		awk -v l="$pair" -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%-24s %8.2f\n", l, a / b}'
	done
} | tee "$results/summary.txt"
