#!/bin/sh
# t_infra_man: the manual pages pass mandoc's lint at warning level, and each
# page documents the program it is named after.
. "$(dirname "$0")/lib.sh"
cd "$MS_SRCDIR" || exit 1
set -- man/*.8
[ -e "$1" ] || ms_skip "no man pages yet (man/*.8)"
command -v mandoc >/dev/null || ms_skip "mandoc not installed (make deps)"
fails=0
for m in "$@"; do
	name=$(basename "$m" .8)
	if out=$(mandoc -Tlint -W warning "$m" 2>&1) && [ -z "$out" ]; then
		echo "ok   $m: mandoc -Tlint -W warning is clean"
	else
		echo "FAIL $m:"; echo "$out"; fails=$((fails + 1))
	fi
	if grep -qi -e "^\.Dt $name 8" -e "^\.TH \"*$name\"* \"*8" "$m"; then
		echo "ok   $m: documents $name(8)"
	else
		echo "FAIL $m: no .Dt/.TH $name 8"; fails=$((fails + 1))
	fi
done
for s in smtpd pop3d imapd; do
	[ -f "$s/main.c" ] && [ ! -f "man/$s.8" ] && echo "note: $s exists but man/$s.8 does not yet"
done
[ $fails -eq 0 ]
