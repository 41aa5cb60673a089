#!/bin/sh
# t_infra_install: "make install DESTDIR=... PREFIX=/usr" places binaries,
# man pages, xinetd, systemd and PAM files with @SBINDIR@ substituted;
# "make uninstall" with the same variables removes every file again.
# Uses the binaries already built under $MS_OUT (make -o all: nothing is
# rebuilt here, the tree is not touched).
. "$(dirname "$0")/lib.sh"
cd "$MS_SRCDIR" || exit 1
for s in smtpd pop3d imapd; do
	[ -f "$s/main.c" ] || continue
	[ -x "$MS_OUT/$s/$s" ] || ms_skip "$s not built under $MS_OUT (run make first)"
done
ms_lab_init
# run from "make e2e": the outer make's flags are not ours
unset MAKEFLAGS MFLAGS MAKELEVEL
D=$MS_LAB/dest
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
if ! make -s --no-print-directory -o all OUT="$MS_OUT" DESTDIR="$D" PREFIX=/usr install \
	>"$MS_LAB/install.log" 2>&1; then
	cat "$MS_LAB/install.log"; echo "FAIL make install"; exit 1
fi
for s in smtpd pop3d imapd; do
	if [ -f "$s/main.c" ]; then
		[ -x "$D/usr/sbin/$s" ] && [ "$(stat -c %a "$D/usr/sbin/$s")" = 755 ] ||
			fail "usr/sbin/$s not installed mode 755"
		cmp -s "$MS_OUT/$s/$s" "$D/usr/sbin/$s" || fail "usr/sbin/$s differs from the build"
	fi
	[ -f "man/$s.8" ] && { [ -f "$D/usr/share/man/man8/$s.8" ] || fail "man8/$s.8 not installed"; }
	x=$D/etc/xinetd.d/$s
	[ -f "$x" ] && grep -q "^[[:space:]]*server[[:space:]]*=[[:space:]]*/usr/sbin/$s\$" "$x" ||
		fail "etc/xinetd.d/$s: server = /usr/sbin/$s"
	grep -qx "ExecStart=/usr/sbin/$s -s /var/mail" "$D/lib/systemd/system/$s@.service" 2>/dev/null ||
		fail "lib/systemd/system/$s@.service: ExecStart=/usr/sbin/$s"
	[ -f "$D/lib/systemd/system/$s.socket" ] || fail "lib/systemd/system/$s.socket missing"
done
for p in pop3d imapd; do
	[ -f "$D/etc/pam.d/$p" ] && [ "$(stat -c %a "$D/etc/pam.d/$p")" = 644 ] ||
		fail "etc/pam.d/$p not installed mode 644"
done
left=$(grep -rl "@[A-Z]*@" "$D/etc" "$D/lib" 2>/dev/null)
[ -z "$left" ] || fail "unsubstituted @VAR@ in: $left"
[ $fails -eq 0 ] && echo "ok   make install DESTDIR PREFIX=/usr: $(find "$D" -type f | wc -l) files in place"
make -s --no-print-directory OUT="$MS_OUT" DESTDIR="$D" PREFIX=/usr uninstall >>"$MS_LAB/install.log" 2>&1 ||
	fail "make uninstall"
rest=$(find "$D" -type f)
if [ -z "$rest" ]; then echo "ok   make uninstall removes every file"; else fail "make uninstall left: $rest"; fi
[ $fails -eq 0 ]
