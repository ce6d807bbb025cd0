#!/usr/bin/env bash
# Peak memory of webfim on a generated tree of many small files (issue 2:
# `baseline create` and `diff` under 150 MB; issue 5: `watch` under 200 MB).
# The tree (default 1,000,000 files in 100,000 directories, made by
# bench/gentree) is generated once under bench/work/ and reused.
# Peak RSS is the "Maximum resident set size" of GNU time (/usr/bin/time -v).
# Usage: bash bench/rss.sh [-f FILES] [-d DIRS] [-t WATCH_SECONDS]
#   WATCH_SECONDS  how long watch runs after its start-up (default 60)
set -euo pipefail

files=1000000
dirs=100000
watch_seconds=60
while getopts f:d:t: opt; do
	case $opt in
	f) files=$OPTARG ;;
	d) dirs=$OPTARG ;;
	t) watch_seconds=$OPTARG ;;
	*)
		echo "usage: bash bench/rss.sh [-f FILES] [-d DIRS] [-t WATCH_SECONDS]" >&2
		exit 2
		;;
	esac
done

[ -x /usr/bin/time ] || {
	echo "rss: GNU time (/usr/bin/time) is missing: run bash bench/setup.sh first" >&2
	exit 1
}
repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
results="$work/results-rss"
tree="$work/tree-$files-$dirs"
db="$work/rss.db"
webfim="$work/webfim"
mkdir -p "$work"
rm -rf "$results"
mkdir -p "$results"

echo "== building"
(cd "$repo" && go build -o "$work/gentree" ./bench/gentree && go build -o "$webfim" ./cmd/webfim)

has_webfim() { "$webfim" "$@" --help >/dev/null 2>&1; }

echo "== generating $tree"
"$work/gentree" -files "$files" -dirs "$dirs" "$tree"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"

summary=()

# report NAME TIMEFILE LIMIT_MB: prints peak RSS and wall time from a GNU
# time -v report and checks the limit (MB = 10^6 bytes; time reports KiB).
report() {
	local name=$1 timefile=$2 limit=$3 kib wall line
	kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timefile")
	wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ {print $2}' "$timefile")
	line=$(awk -v n="$name" -v k="$kib" -v w="$wall" -v l="$limit" 'BEGIN {
		mb = k * 1024 / 1e6
		printf "%-22s peak RSS %7.1f MB  (target < %d MB: %s)  wall %s", n, mb, l, (mb < l) ? "PASS" : "FAIL", w
	}')
	echo "   $line"
	summary+=("$line")
}

# measure NAME MAXEXIT LIMIT_MB CMD...: runs CMD under GNU time; an exit
# status above MAXEXIT (differences are 1-7) is a failure.
measure() {
	local name=$1 maxexit=$2 limit=$3 rc=0
	shift 3
	echo "== $name: $*"
	/usr/bin/time -v -o "$results/$name.time" "$@" >"$results/$name.out" 2>"$results/$name.err" || rc=$?
	if [ "$rc" -gt "$maxexit" ]; then
		echo "rss: $name failed with exit status $rc:" >&2
		tail -n 20 "$results/$name.err" >&2
		summary+=("$(printf '%-22s FAILED (exit status %d)' "$name" "$rc")")
		return 0
	fi
	[ "$rc" -eq 0 ] || echo "   note: exit status $rc (differences reported; see $results/$name.out)"
	report "$name" "$results/$name.time" "$limit"
}

if has_webfim baseline create; then
	rm -f "$db"
	measure baseline_create_full 0 150 "$webfim" --db "$db" --quiet baseline create --root "$tree" --full
	measure baseline_create_incr 0 150 "$webfim" --db "$db" --quiet baseline create --root "$tree"
	if has_webfim diff; then
		measure diff 7 150 "$webfim" --db "$db" --quiet diff
		measure diff_fast 7 150 "$webfim" --db "$db" --quiet diff --fast
	else
		summary+=("diff                   missing: webfim diff does not exist yet")
	fi
else
	summary+=("baseline create        missing: webfim baseline create does not exist yet")
fi

# Watch daemon (issue 5: peak RSS under 200 MB watching the same tree,
# start-up time reported). The daemon logs JSON; start-up is the time from
# launch to its "watching" line (every directory watched). It then runs
# WATCH_SECONDS more (the catch-up scan of the unchanged tree happens then)
# and is stopped with SIGTERM, a graceful stop; GNU time reports the peak.
if has_webfim watch && [ -f "$db" ]; then
	echo "== watch: $webfim --db $db watch --output stdout --log-format json, ${watch_seconds}s after start-up"
	max_watches=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo 0)
	if [ "$max_watches" -lt $((dirs + dirs / 1000 + 1)) ]; then
		echo "   note: fs.inotify.max_user_watches is $max_watches, fewer than the tree's directories:" \
			"the daemon will fall back to rescans (raise it with sysctl -w fs.inotify.max_user_watches=N)"
	fi
	t0=$(date +%s%N)
	/usr/bin/time -v -o "$results/watch.time" "$webfim" --db "$db" watch --output stdout --log-format json \
		>"$results/watch.out" 2>"$results/watch.err" &
	timepid=$!
	startup=""
	for ((i = 0; i < 6000; i++)); do
		if grep -q '"msg":"watching"' "$results/watch.err" 2>/dev/null; then
			startup=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
			break
		fi
		kill -0 "$timepid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -n "$startup" ]; then
		echo "   start-up: ${startup}s until every directory is watched"
		sleep "$watch_seconds"
	else
		echo "   watch did not report start-up (see $results/watch.err)"
	fi
	watchpid=$(ps -o pid= --ppid "$timepid" | tr -d ' ' | head -n 1)
	[ -z "$watchpid" ] || kill -TERM "$watchpid" 2>/dev/null || true
	wait "$timepid" || true
	if grep -q 'Maximum resident set size' "$results/watch.time" 2>/dev/null; then
		report watch "$results/watch.time" 200
		summary[${#summary[@]} - 1]+="  start-up ${startup:-?}s"
	else
		summary+=("watch                  FAILED: no GNU time report (see $results/watch.err)")
	fi
else
	summary+=("watch                  missing: webfim watch does not exist yet")
fi

echo
echo "tree: $files files in $dirs leaf directories ($tree)"
printf '%s\n' "${summary[@]}" | tee "$results/summary.txt"
