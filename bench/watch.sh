#!/usr/bin/env bash
# Benchmarks of the watch daemon (issue 5), with the real webfim binary:
#  1. latency: write -> alert line on stdout over N single-file changes
#     (new files f0001.html, ...), default config (300 ms debounce);
#     target p99 < 1 s;
#  2. burst: cp -r of the reference tree (bench/work/ref, from
#     bench/setup.sh) into an empty watched root outside any deploy window;
#     every added entry alerted exactly once, checked against
#     `webfim diff --fast --format ndjson` afterwards; time from the start
#     of the copy to the last alert;
#  3. scale: `webfim watch` on a bench/gentree tree of 1,000,000 files in
#     100,000 directories under GNU time: start-up until its "watching" log
#     line, peak RSS after the catch-up scan (target < 200 MB);
#  4. sparse: as latency, but each new file is a .php script and, just
#     before it is written, the times of a 100 GB sparse file in the root
#     are set, so the daemon hashes that file again beside every script
#     (issue 12: a script next to it used to wait 73 s); target p99 < 1 s;
#  5. config: a LoadModule line appended to an included Apache file
#     (outside the roots) -> its item alert; target p99 < 1 s.
# Latency and burst are driven by bench/watchlat, which starts the daemon
# with its alerts on a pipe. Data lives in bench/work/watch/ (ignored).
# Usage: bash bench/watch.sh [-r RUNS] [-n CHANGES] [-p RATE] [-s SCALE_RUNS]
#                            [-f FILES] [-d DIRS] [-o latency,burst,scale,sparse,config] [-c REF]
#   RUNS        repeats of latency and burst (default 3; medians reported)
#   CHANGES     single-file changes per latency run (default 1000)
#   RATE        changes per second (default 50; 0 = each write waits for
#               the previous alert)
#   SCALE_RUNS  start-ups of the daemon on the large tree (default 3)
#   FILES/DIRS  size of the large tree (default 1000000/100000)
#   -o          which parts to run (default all five); sparse makes
#               CHANGES/10 changes at 5/s, config CHANGES/10 edits each
#               after the previous alert
#   REF         also run each part with the webfim of the git commit REF
#               (e.g. main), alternating run by run with this tree's, and
#               print both: a regression check in one run (the targets are
#               judged for this tree)
# Exit status 0 when every target passed, 1 otherwise.
set -euo pipefail
shopt -s nullglob

runs=3
changes=1000
rate=50
scale_runs=3
files=1000000
dirs=100000
only=latency,burst,scale,sparse,config
base_ref=""
while getopts r:n:p:s:f:d:o:c: opt; do
	case $opt in
	r) runs=$OPTARG ;;
	n) changes=$OPTARG ;;
	p) rate=$OPTARG ;;
	s) scale_runs=$OPTARG ;;
	f) files=$OPTARG ;;
	d) dirs=$OPTARG ;;
	o) only=$OPTARG ;;
	c) base_ref=$OPTARG ;;
	*)
		sed -n 's/^# \{0,1\}//; /^Usage/,/^Exit/p' "$0" >&2
		exit 2
		;;
	esac
done
want() { [[ ",$only," == *",$1,"* ]]; }

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
data="$work/watch"
results="$work/results-watch"
webfim="$work/webfim"
watchlat="$data/watchlat"
mkdir -p "$data"
rm -rf "$results"
mkdir -p "$results"

echo "== building"
(cd "$repo" && go build -o "$webfim" ./cmd/webfim && go build -o "$watchlat" ./bench/watchlat &&
	go build -o "$data/gentree" ./bench/gentree)
# builds: "this" is this tree's webfim; with -c REF, "base" is REF's.
builds=(this)
declare -A bin=([this]="$webfim")
if [ -n "$base_ref" ]; then
	base_commit=$(git -C "$repo" rev-parse --short "$base_ref^{commit}")
	rm -rf "$data/base-src"
	mkdir -p "$data/base-src"
	git -C "$repo" archive "$base_commit" | tar -x -C "$data/base-src"
	(cd "$data/base-src" && go build -o "$work/webfim-base" ./cmd/webfim)
	rm -rf "$data/base-src"
	builds+=(base)
	bin[base]="$work/webfim-base"
	echo "   base: $base_ref ($base_commit)"
fi
# pre LABEL: the prefix of LABEL's result files.
pre() { [ "$1" = this ] && echo "" || echo "$1-"; }

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))," \
	"$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory," \
	"Linux $(uname -r), $(go version | cut -d' ' -f3), webfim at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load at the start: $(load) (1/5/15 min)"
start_load=$(load)

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# field KEY FILE: the value of KEY=... in the RESULT line of FILE
field() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2" 2>/dev/null | head -n 1 || true; }

summary=()
failed=0
verdict() { # verdict OK? TEXT
	if [ "$1" = 1 ]; then
		summary+=("$2: PASS")
	else
		summary+=("$2: FAIL")
		failed=1
	fi
}

# -- 1. latency ---------------------------------------------------------
if want latency; then
	echo "== latency: $runs runs of $changes new files, $rate/s, default config (debounce 300 ms)"
	ok=1
	for ((i = 1; i <= runs; i++)); do
		for b in "${builds[@]}"; do
			w=${bin[$b]} r="$results/$(pre "$b")latency-$i"
			d="$data/latency"
			rm -rf "$d"
			mkdir -p "$d/root"
			echo '<p>index</p>' >"$d/root/index.html"
			"$w" --db "$d/webfim.db" --quiet baseline create --no-discover --root "$d/root" >/dev/null
			if ! "$watchlat" latency -n "$changes" -rate "$rate" -dir "$d/root" -log "$r.log" \
				-- "$w" --db "$d/webfim.db" watch --no-discover --root "$d/root" --output stdout \
				>"$r.txt"; then
				echo "   $b run $i failed (see $r.log)"
				[ "$b" != this ] || ok=0
				continue
			fi
			sed -n 's/^latency: /   '"$b"' run '"$i"': /p' "$r.txt"
			[ "$b" != this ] || { [ "$(field lost "$r.txt")" = 0 ] && [ "$(field dups "$r.txt")" = 0 ]; } || ok=0
		done
	done
	for b in "${builds[@]}"; do
		fs=("$results/$(pre "$b")"latency-*.txt)
		p50=$(for f in "${fs[@]}"; do field p50_ms "$f"; done | median)
		p99=$(for f in "${fs[@]}"; do field p99_ms "$f"; done | median)
		mx=$(for f in "${fs[@]}"; do field max_ms "$f"; done | median)
		worst99=$(for f in "${fs[@]}"; do field p99_ms "$f"; done | sort -g | tail -n 1)
		line=$(printf 'latency  write -> alert, medians of %d runs of %d: p50 %s ms, p99 %s ms (worst run %s ms), max %s ms; target p99 < 1000 ms, none lost or duplicated' \
			"$runs" "$changes" "$p50" "$p99" "${worst99:-?}" "$mx")
		if [ "$b" = this ]; then
			[ "$p99" != "?" ] && awk -v p="$p99" 'BEGIN {exit !(p < 1000)}' || ok=0
			verdict $ok "$line"
		else
			summary+=("$line ($base_ref, for comparison)")
		fi
	done
fi

# -- 4, 5. sparse and config ---------------------------------------------
# latency_part NAME TITLE RATE SETUP WATCHLAT_FLAGS: runs of watchlat
# latency at RATE changes/s (0: each after the previous alert) with SETUP
# run in the fresh directory $d first; summarised like latency.
latency_part() {
	local name=$1 title=$2 prate=$3 setup=$4 flags=$5 ok=1 n=$((changes / 10))
	[ "$n" -ge 10 ] || n=10
	echo "== $name: $runs runs of $n changes (rate $prate/s; 0: each after the previous alert): $title"
	for ((i = 1; i <= runs; i++)); do
		for b in "${builds[@]}"; do
			w=${bin[$b]} r="$results/$(pre "$b")$name-$i"
			d="$data/$name"
			rm -rf "$d"
			mkdir -p "$d/root"
			echo '<p>index</p>' >"$d/root/index.html"
			eval "$setup"
			"$w" --db "$d/webfim.db" --config "$d/webfim.yml" --quiet baseline create --no-discover --root "$d/root" >/dev/null
			local expanded
			expanded=$(eval echo "$flags") # $d in the flags
			# shellcheck disable=SC2086
			if ! "$watchlat" latency -n "$n" -rate "$prate" -log "$r.log" $expanded \
				-- "$w" --db "$d/webfim.db" --config "$d/webfim.yml" watch --no-discover --root "$d/root" --output stdout \
				>"$r.txt"; then
				echo "   $b run $i failed (see $r.log)"
				[ "$b" != this ] || ok=0
				continue
			fi
			sed -n 's/^latency: /   '"$b"' run '"$i"': /p' "$r.txt"
			[ "$b" != this ] || { [ "$(field lost "$r.txt")" = 0 ] && [ "$(field dups "$r.txt")" = 0 ]; } || ok=0
		done
	done
	for b in "${builds[@]}"; do
		fs=("$results/$(pre "$b")$name"-*.txt)
		p50=$(for f in "${fs[@]}"; do field p50_ms "$f"; done | median)
		p99=$(for f in "${fs[@]}"; do field p99_ms "$f"; done | median)
		line=$(printf '%-8s %s, medians of %d runs of %d: p50 %s ms, p99 %s ms; target p99 < 1000 ms' "$name" "$title" "$runs" "$n" "$p50" "$p99")
		if [ "$b" = this ]; then
			[ "$p99" != "?" ] && awk -v p="$p99" 'BEGIN {exit !(p < 1000)}' || ok=0
			verdict $ok "$line"
		else
			summary+=("$line ($base_ref, for comparison)")
		fi
	done
}
if want sparse; then
	latency_part sparse "new script -> alert beside a 100 GB sparse file re-hashed each time" 5 \
		'truncate -s 100G "$d/root/huge.bin"; echo "roots: []" >"$d/webfim.yml"' \
		'-ext php -dir $d/root -touch $d/root/huge.bin'
fi
if want config; then
	# One file edited again and again: paced faster than the debounce
	# period, its changes would merge (up to 2 s); each edit waits for the
	# previous alert, as separate edits of a configuration do.
	latency_part config "LoadModule appended to an included config -> item alert" 0 \
		'mkdir -p "$d/etc/apache2"; : >"$d/etc/apache2/extra.conf"
		 printf "ServerRoot %s\nInclude %s\n" "$d/etc/apache2" "$d/etc/apache2/extra.conf" >"$d/etc/apache2/apache2.conf"
		 printf "configs:\n  - %s\n" "$d/etc/apache2/apache2.conf" >"$d/webfim.yml"' \
		'-config $d/etc/apache2/extra.conf'
fi

# -- 2. burst -----------------------------------------------------------
if want burst; then
	ref="$work/ref"
	if [ ! -d "$ref" ]; then
		echo "== burst: the reference tree $ref is missing: run bash bench/setup.sh first"
		summary+=("burst    SKIPPED: no reference tree (run bash bench/setup.sh first)")
		failed=1
	else
		nref=$(find "$ref" | wc -l)
		echo "== burst: $runs runs of cp -r of the reference tree ($nref entries) into an empty watched root"
		ok=1
		for ((i = 1; i <= runs; i++)); do
			for b in "${builds[@]}"; do
				w=${bin[$b]} r="$results/$(pre "$b")burst-$i"
				d="$data/burst"
				rm -rf "$d"
				mkdir -p "$d/root"
				# the same copy, unwatched, for reference
				sync
				t0=$(date +%s%N)
				cp -r "$ref" "$d/unwatched"
				t1=$(date +%s%N)
				awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", (b - a) / 1e9}' >"$r.unwatched"
				rm -rf "$d/unwatched"
				"$w" --db "$d/webfim.db" --quiet baseline create --no-discover --root "$d/root" >/dev/null
				sync # every copy starts with no dirty pages left by the previous one
				if ! "$watchlat" burst -copy "$ref" -dir "$d/root/ref" -quiet 10s -log "$r.log" \
					-save "$r.ndjson" \
					-- "$w" --db "$d/webfim.db" watch --no-discover --root "$d/root" --output stdout \
					>"$r.txt"; then
					echo "   $b run $i failed (see $r.log)"
					[ "$b" != this ] || ok=0
					continue
				fi
				rc=0
				"$w" --db "$d/webfim.db" diff --fast --format ndjson >"$r.diff.ndjson" || rc=$?
				if [ "$rc" -gt 7 ]; then
					echo "   $b run $i: webfim diff failed with exit status $rc"
					[ "$b" != this ] || ok=0
					continue
				fi
				"$watchlat" compare -alerts "$r.ndjson" -diff "$r.diff.ndjson" \
					-under "$d/root/ref" >"$r.compare.txt"
				ncopy=$(find "$d/root/ref" | wc -l)
				awk -v i="$i" -v b="$b" '/^(burst|compare): / {sub(/^[a-z]+: /, "   " b " run " i ": "); print; next}
					/^   / {print "   " $0}' "$r.txt" "$r.compare.txt"
				echo "   $b run $i: find counts $ncopy entries in the copy; the same cp -r into an unwatched directory took $(cat "$r.unwatched")s"
				[ "$b" != this ] || { [ "$(field pass "$r.compare.txt")" = true ] && [ "$(field expected "$r.compare.txt")" = "$ncopy" ]; } || ok=0
			done
		done
		rm -rf "$data/burst"
		for b in "${builds[@]}"; do
			fs=("$results/$(pre "$b")"burst-?.txt "$results/$(pre "$b")"burst-??.txt)
			after=$(for f in "${fs[@]}"; do field after_copy_s "$f"; done | median)
			unw=$(cat "$results/$(pre "$b")"burst-*.unwatched | median)
			last=$(for f in "${fs[@]}"; do field last_alert_s "$f"; done | median)
			cps=$(for f in "${fs[@]}"; do field copy_s "$f"; done | median)
			line=$(printf 'burst    cp -r of %d entries, medians of %d runs: copy %s s (unwatched %s s), last alert %s s after the copy started (%s s after it ended); every entry alerted exactly once, none lost (vs diff and find)' \
				"$nref" "$runs" "$cps" "$unw" "$last" "$after")
			if [ "$b" = this ]; then
				verdict $ok "$line"
			else
				summary+=("$line ($base_ref, for comparison)")
			fi
		done
	fi
fi

# -- 3. scale -----------------------------------------------------------
if want scale; then
	if [ ! -x /usr/bin/time ]; then
		echo "== scale: GNU time (/usr/bin/time) is missing: run bash bench/setup.sh first"
		summary+=("scale    SKIPPED: no GNU time (run bash bench/setup.sh first)")
		failed=1
	else
		# The same tree as bench/rss.sh (bench/work/tree-FILES-DIRS), reused.
		tree="$work/tree-$files-$dirs"
		echo "== scale: generating (or reusing) $tree"
		"$data/gentree" -files "$files" -dirs "$dirs" "$tree"
		ndirs=$(find "$tree" -type d | wc -l)
		echo "   baseline create --no-discover --root $tree"
		for b in "${builds[@]}"; do
			rm -f "$data/$(pre "$b")scale.db"
			"${bin[$b]}" --db "$data/$(pre "$b")scale.db" --quiet baseline create --no-discover --root "$tree" >/dev/null
		done

		# inotify: one watch per directory, on top of the watches in use.
		limit=$(cat /proc/sys/fs/inotify/max_user_watches)
		inuse=$(cat /proc/[0-9]*/fdinfo/* 2>/dev/null | grep -c '^inotify wd:' || true)
		need=$((inuse + ndirs + 1000))
		if [ "$limit" -lt "$need" ]; then
			if [ "$(id -u)" = 0 ]; then
				sysctl -q -w fs.inotify.max_user_watches=$((need > 1048576 ? need : 1048576))
				echo "   raised fs.inotify.max_user_watches from $limit to $(cat /proc/sys/fs/inotify/max_user_watches)" \
					"(sysctl, as root; not restored)"
			else
				echo "   note: fs.inotify.max_user_watches is $limit, the tree needs about $need:" \
					"the daemon will degrade to rescans (as root: sysctl -w fs.inotify.max_user_watches=1048576)"
			fi
		else
			echo "   fs.inotify.max_user_watches $limit is enough ($ndirs directories, $inuse watches in use)"
		fi

		echo "== scale: $scale_runs start-ups of webfim watch on $files files in $ndirs directories"
		ok=1
		for ((i = 1; i <= scale_runs; i++)); do
			for b in "${builds[@]}"; do
				r="$results/$(pre "$b")scale-$i"
				err="$r.log"
				t0=$(date +%s%N)
				/usr/bin/time -v -o "$r.time" \
					"${bin[$b]}" --db "$data/$(pre "$b")scale.db" watch --no-discover --root "$tree" --output stdout \
					>"$r.out" 2>"$err" &
				timepid=$!
				# start-up: until "msg=watching"; then until the catch-up scan
				# of the unchanged tree is done ("rescan done" reason=startup).
				for ((j = 0; j < 6000; j++)); do
					grep -q 'msg="rescan done".*reason=startup' "$err" 2>/dev/null && break
					kill -0 "$timepid" 2>/dev/null || break
					sleep 0.1
				done
				watchpid=$(ps -o pid= --ppid "$timepid" | tr -d ' ' | head -n 1)
				[ -z "$watchpid" ] || kill -INT "$watchpid" 2>/dev/null || true
				wait "$timepid" || true
				wline=$(grep -m1 'msg=watching' "$err" || true)
				dline=$(grep -m1 'msg="rescan done".*reason=startup' "$err" || true)
				if [ -z "$wline" ] || [ -z "$dline" ] || ! grep -q 'Maximum resident set size' "$r.time"; then
					echo "   $b run $i failed (see $err)"
					[ "$b" != this ] || ok=0
					continue
				fi
				tw=$(date -d "$(sed 's/^time=\([^ ]*\).*/\1/' <<<"$wline")" +%s%N)
				td=$(date -d "$(sed 's/^time=\([^ ]*\).*/\1/' <<<"$dline")" +%s%N)
				watched=$(sed -n 's/.* dirs=\([0-9]*\).*/\1/p' <<<"$wline")
				kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$r.time")
				awk -v a="$t0" -v w="$tw" -v d="$td" -v k="$kib" -v n="$watched" 'BEGIN {
					printf "%.2f %.2f %.1f %s\n", (w - a) / 1e9, (d - w) / 1e9, k * 1024 / 1e6, n
				}' >"$r.txt"
				read -r su cu mb nw <"$r.txt"
				echo "   $b run $i: watching $nw directories ${su}s after launch, catch-up scan done ${cu}s later; peak RSS $mb MB"
				[ "$b" != this ] || [ "$nw" -ge "$ndirs" ] || ok=0
			done
		done
		for b in "${builds[@]}"; do
			fs=("$results/$(pre "$b")"scale-*.txt)
			su=$(for f in "${fs[@]}"; do cut -d' ' -f1 "$f"; done | median)
			cu=$(for f in "${fs[@]}"; do cut -d' ' -f2 "$f"; done | median)
			mbmed=$(for f in "${fs[@]}"; do cut -d' ' -f3 "$f"; done | median)
			mbmax=$(for f in "${fs[@]}"; do cut -d' ' -f3 "$f"; done | sort -g | tail -n 1)
			line=$(printf 'scale    %d files, %d dirs, medians of %d start-ups: watching after %s s, catch-up scan %s s more; peak RSS %s MB (highest %s MB), target < 200 MB' \
				"$files" "$ndirs" "$scale_runs" "$su" "$cu" "$mbmed" "${mbmax:-?}")
			if [ "$b" = this ]; then
				[ -n "$mbmax" ] && awk -v m="$mbmax" 'BEGIN {exit !(m < 200)}' || ok=0
				verdict $ok "$line"
			else
				summary+=("$line ($base_ref, for comparison)")
			fi
		done
	fi
fi

echo
echo "load: $start_load at the start, $(load) at the end (1/5/15 min; $(nproc) cores)"
printf '%s\n' "${summary[@]}" | tee "$results/summary.txt"
exit $failed
