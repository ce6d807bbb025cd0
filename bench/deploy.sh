#!/usr/bin/env bash
# A legitimate deploy inside a window (issue 10): Debian's wordpress
# package copied over an older tree of it (every third PHP file and
# stylesheet differs, every tenth script is missing, one retired file),
# between "deploy start" and "deploy finish". Prints how many changes the
# deploy made, the ECS documents of "diff --format ecs" by kind and
# severity, and whether "deploy finish" trusted the release without
# --accept. Target: 0 alerts at medium or above, deploy finish exit 0.
#
# Usage: bash bench/deploy.sh
#   needs Debian's wordpress package (apt-get install wordpress)
set -euo pipefail

src=/usr/share/wordpress
[ -d "$src" ] || {
	echo "deploy: $src is missing: apt-get install wordpress" >&2
	exit 1
}
repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/bench/work/deploy"
rm -rf "$work"
mkdir -p "$work"
webfim="$work/webfim"
(cd "$repo" && go build -o "$webfim" ./cmd/webfim)
www="$work/www"
db="$work/webfim.db"
wf() { "$webfim" --db "$db" "$@"; }

cp -a "$src/." "$www/"
(
	cd "$www"
	find . -type f \( -name '*.php' -o -name '*.css' \) | sort | awk 'NR%3==0' |
		while read -r f; do printf '\n/* 6.0 */\n' >>"$f"; done
	find . -type f -name '*.js' | sort | awk 'NR%10==0' | xargs rm -f
	printf '<?php\n// A file of the older release.\n' >wp-includes/class-wp-feature-retired.php
)
wf baseline create --no-discover --root "$www" --label older >/dev/null 2>&1

wf deploy start --label wordpress --by bench >/dev/null
cp -a "$src/." "$www/"
rc=0
wf diff --format ecs >"$work/deploy.ndjson" || rc=$?
docs=$(wc -l <"$work/deploy.ndjson")
events=$(grep -c '"kind":"event"' "$work/deploy.ndjson" || true)
alerts=$(grep -c '"kind":"alert"' "$work/deploy.ndjson" || true)
medium=$(grep '"kind":"alert"' "$work/deploy.ndjson" | grep -c -E '"severity":[234][,}]' || true)
echo "deploy of $(find "$src" -type f | wc -l) files over the older tree: diff exit $rc, $docs ECS documents"
echo "  expected events:          $events"
echo "  alerts:                   $alerts"
echo "  alerts at medium or above: $medium (target 0)"
frc=0
wf deploy finish >"$work/finish.out" 2>&1 || frc=$?
echo "  deploy finish without --accept: exit $frc (target 0)"
[ "$frc" -eq 0 ] || sed 's/^/    /' "$work/finish.out"
after=$(wf diff | tail -1)
echo "  diff after finish: $after"
[ "$medium" -eq 0 ] && [ "$frc" -eq 0 ] && echo "PASS" || {
	echo "FAIL"
	exit 1
}
