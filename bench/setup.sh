#!/usr/bin/env bash
# Prepares the webfim benchmarks (idempotent; run as root):
#  - installs the peers and tools from Debian: aide (AIDE 0.18 on bookworm),
#    GNU time, the wordpress and mediawiki packages (the reference web
#    trees), and hyperfine if the archive has it;
#  - builds the reference tree bench/work/ref: the installed wordpress and
#    mediawiki trees copied with `cp -rL` (symlinks followed) into one root.
# Usage: bash bench/setup.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work"
ref="$work/ref"
sources=(/usr/share/wordpress /usr/share/mediawiki)

need=()
command -v aide >/dev/null || need+=(aide)
[ -x /usr/bin/time ] || need+=(time)
[ -d /usr/share/wordpress ] || need+=(wordpress)
[ -d /usr/share/mediawiki ] || need+=(mediawiki)
if [ ${#need[@]} -gt 0 ] || ! command -v hyperfine >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	if [ ${#need[@]} -gt 0 ]; then
		echo "setup: installing ${need[*]}"
		apt-get install -y -q --no-install-recommends "${need[@]}"
	fi
	if ! command -v hyperfine >/dev/null; then
		# Optional: run.sh falls back to a shell loop without it.
		apt-get install -y -q --no-install-recommends hyperfine ||
			echo "setup: hyperfine not available; run.sh will time with a shell loop"
	fi
fi
aide --version 2>&1 | head -n 1

# The stamp records the package versions the tree was copied from, so a
# package upgrade rebuilds it and an unchanged system reuses it.
stamp="$work/ref.stamp"
want=$(dpkg-query -W -f '${Package} ${Version}\n' wordpress mediawiki)
if [ -d "$ref" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "setup: reference tree $ref is up to date"
else
	rm -rf "$ref" "$stamp"
	mkdir -p "$ref"
	# Dangling symlinks (e.g. mediawiki's LocalSettings.php, which points into
	# /var/lib/mediawiki and only exists once the wiki is configured) cannot
	# be followed; cp -rL reports them and copies the rest. Any other error
	# fails the setup.
	mapfile -t dangling < <(find "${sources[@]}" -xtype l)
	for l in "${dangling[@]}"; do
		echo "setup: skipping dangling symlink $l -> $(readlink "$l")"
	done
	errs="$work/cp.err"
	cp -rL "${sources[@]}" "$ref/" 2>"$errs" || true
	unexpected=$(grep -v -F -f <(for l in "${dangling[@]}"; do printf "cannot stat '%s'\n" "$l"; done) "$errs" || true)
	if [ -n "$unexpected" ]; then
		echo "setup: cp -rL failed:" >&2
		echo "$unexpected" >&2
		exit 1
	fi
	rm -f "$errs"
	echo "$want" >"$stamp"
fi

files=$(find "$ref" -type f | wc -l)
dirs=$(find "$ref" -type d | wc -l)
bytes=$(find "$ref" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
echo "setup: reference tree $ref: $files files, $dirs directories, $bytes bytes ($(awk -v b="$bytes" 'BEGIN {printf "%.1f MB", b / 1e6}'))"
