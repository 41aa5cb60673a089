#!/bin/sh
# t_infra_systemd: each shipped systemd unit (@SBINDIR@ -> stub binaries)
# passes "systemd-analyze verify" with no warning, and says what the
# deployment needs: Accept=yes on the right port, the socket as stdin and
# stdout, ExecStart of the binary with -s /var/mail.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || ms_skip "systemd-analyze not installed (package systemd)"
ms_lab_init
d=$MS_LAB/units sbin=$MS_LAB/sbin
mkdir -p "$d" "$sbin"
# does verify work here at all (it needs no running systemd, but a sane /)?
printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' > "$d/probe.service"
if ! systemd-analyze verify --man=no "$d/probe.service" >"$MS_LAB/probe.out" 2>&1 || [ -s "$MS_LAB/probe.out" ]; then
	cat "$MS_LAB/probe.out"
	ms_skip "systemd-analyze verify does not work in this container"
fi
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
for name in smtpd:25 pop3d:110 imapd:143; do
	port=${name#*:} name=${name%:*}
	printf '#!/bin/sh\nexit 0\n' > "$sbin/$name" && chmod 755 "$sbin/$name"
	for u in "$name.socket" "$name@.service"; do
		[ -f "$MS_SRCDIR/systemd/$u" ] || { fail "systemd/$u missing"; continue; }
		sed "s|@SBINDIR@|$sbin|g" "$MS_SRCDIR/systemd/$u" > "$d/$u"
	done
	[ -f "$d/$name.socket" ] && [ -f "$d/$name@.service" ] || continue
	if (cd "$d" && systemd-analyze verify --man=no "$name.socket" "$name@.service") >"$MS_LAB/$name.out" 2>&1 &&
	   [ ! -s "$MS_LAB/$name.out" ]; then
		echo "ok   systemd/$name.socket + $name@.service verify cleanly"
	else
		fail "systemd-analyze verify $name:"; cat "$MS_LAB/$name.out"
	fi
	s=$d/$name.socket v=$d/$name@.service
	grep -qx "ListenStream=$port" "$s" && grep -qx 'Accept=yes' "$s" ||
		fail "$name.socket: ListenStream=$port and Accept=yes"
	grep -qx "ExecStart=$sbin/$name -s /var/mail" "$v" ||
		fail "$name@.service: ExecStart=@SBINDIR@/$name -s /var/mail"
	grep -qx 'StandardInput=socket' "$v" && grep -qx 'StandardOutput=socket' "$v" ||
		fail "$name@.service: the socket on stdin and stdout"
	grep -qx 'ProtectSystem=strict' "$v" && grep -q '^ReadWritePaths=.*/var/mail' "$v" ||
		fail "$name@.service: ProtectSystem=strict leaves /var/mail writable"
	grep -qx 'NoNewPrivileges=yes' "$v" || fail "$name@.service: NoNewPrivileges"
	grep -q -e '^User=' -e '^DynamicUser=' -e '^CapabilityBoundingSet=' "$v" &&
		fail "$name@.service: must start as root with its capabilities (it drops them itself)"
done
[ $fails -eq 0 ] && echo "ok   all units"
[ $fails -eq 0 ]
