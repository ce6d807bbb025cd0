#!/usr/bin/env bash
# Peak memory of webfim on a generated tree of many small files (issue 2:
# `baseline create` and `diff` under 150 MB; issue 5: `watch` under 200 MB).
# The tree (default 1,000,000 files in 100,000 directories, made by
# bench/gentree) is generated once under bench/work/ and reused.
# Peak RSS is the "Maximum resident set size" of GNU time (/usr/bin/time -v).
# Usage: bash bench/rss.sh [-f FILES] [-d DIRS] [-t WATCH_SECONDS]
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

# Watch daemon (issue 5: peak RSS under 200 MB watching the same tree).
# The daemon runs for WATCH_SECONDS under GNU time and is then stopped with
# SIGTERM (a graceful stop), so the peak covers the start-up scan and the
# inotify set-up of every directory.
# TODO(watch): report the start-up time too, once `webfim watch` has a
# readiness signal to wait for (a log line or /healthz via --metrics-addr),
# and pass the flags it needs (outputs, config) here.
if has_webfim watch && [ -f "$db" ]; then
	echo "== watch: $webfim --db $db watch, for ${watch_seconds}s"
	max_watches=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo 0)
	if [ "$max_watches" -lt $((dirs + dirs / 1000 + 1)) ]; then
		echo "   note: fs.inotify.max_user_watches is $max_watches, fewer than the tree's directories:" \
			"the daemon will fall back to rescans (raise it with sysctl -w fs.inotify.max_user_watches=N)"
	fi
	/usr/bin/time -v -o "$results/watch.time" "$webfim" --db "$db" watch >"$results/watch.out" 2>"$results/watch.err" &
	timepid=$!
	sleep 1
	watchpid=$(ps -o pid= --ppid "$timepid" | tr -d ' ' | head -n 1)
	sleep "$watch_seconds"
	[ -z "$watchpid" ] || kill -TERM "$watchpid" 2>/dev/null || true
	wait "$timepid" || true
	if grep -q 'Maximum resident set size' "$results/watch.time" 2>/dev/null; then
		report watch "$results/watch.time" 200
	else
		summary+=("watch                  FAILED: no GNU time report (see $results/watch.err)")
	fi
else
	summary+=("watch                  missing: webfim watch does not exist yet (TODO hook in bench/rss.sh)")
fi

echo
echo "tree: $files files in $dirs leaf directories ($tree)"
printf '%s\n' "${summary[@]}" | tee "$results/summary.txt"
