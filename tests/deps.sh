#!/bin/sh
# deps.sh PKG... - install the Debian packages that are missing.
# As root: apt-get install only what dpkg does not list as installed.
# As another user, or off Debian: print the exact command and go on (the
# build may still work if the tools are there by other means).
if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian system; make sure these are installed: $*"
	exit 0
fi
missing=
for p in "$@"; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$s" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp "${TMPDIR:-/tmp}/deps.XXXXXX") || exit 1
	# xinetd's package starts its daemon; the tests start their own on loopback.
	if ! apt-get update -qq >"$log" 2>&1; then
		cat "$log" >&2; rm -f "$log"
		echo "deps: apt-get update failed" >&2; exit 1
	fi
	if ! apt-get install -y -qq --no-install-recommends $missing >"$log" 2>&1; then
		cat "$log" >&2; rm -f "$log"
		echo "deps: apt-get install$missing failed" >&2; exit 1
	fi
	rm -f "$log"
else
	echo "deps: missing packages:$missing"
	echo "deps: run as root:  apt-get install -y$missing"
fi
exit 0
