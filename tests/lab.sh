#!/bin/sh
# lab.sh - "make run": the students' lab.  The servers that are built, on
# 127.0.0.1, behind the real xinetd configured from the shipped xinetd.d
# files (ports and paths substituted): smtpd 2525, pop3d 1110, imapd 1143.
# Where xinetd cannot run, systemd-socket-activate does the same job.
#
# Builds nothing (make run depends on deps and all).  Lab files in
# $MS_OUT/build/lab (LAB_DIR overrides): spool/, passwd (etudiant/Etudiant1),
# xinetd.conf, xinetd.log.  The spool survives a restart; the rest is
# rewritten.  Runs in the foreground; Ctrl-C stops everything.
#
# Without root xinetd runs as you, and so do the servers.  As root the
# servers run as "nobody" (the lab is chowned to it), so the lab never
# needs a real account.
#
# Environment: SRCDIR, MS_OUT (set by make), LAB_DIR, LAB_SMTP_PORT,
# LAB_POP3_PORT, LAB_IMAP_PORT, MS_LAUNCHER=ssa (skip xinetd).

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export SRCDIR
. "$SRCDIR/tests/e2e/lib.sh"

LAB=${LAB_DIR:-$MS_OUT/build/lab}
ports="smtpd=${LAB_SMTP_PORT:-2525} pop3d=${LAB_POP3_PORT:-1110} imapd=${LAB_IMAP_PORT:-1143}"
die() { echo "lab: $*" >&2; exit 1; }

servers=
for sp in $ports; do
	s=${sp%=*}
	[ -x "$MS_OUT/$s/$s" ] && servers="$servers $sp"
done
[ -n "$servers" ] || die "no server built under $MS_OUT (run: make all)"

# The host name the servers greet with, and the domains smtpd takes mail for.
MS_HOST=$(hostname -f 2>/dev/null || hostname)
case $MS_HOST in ''|*[!A-Za-z0-9.-]*) MS_HOST=$(hostname) ;; esac
domains=$MS_HOST
short=${MS_HOST%%.*}
[ "$short" != "$MS_HOST" ] && domains="$domains,$short"
domains="$domains,localhost"

mkdir -p "$LAB" || die "cannot create $LAB"
rm -f "$LAB/passwd" "$LAB/xinetd.conf" "$LAB"/*.log "$LAB"/*.xinetd.conf
ms_lab_init "$LAB"
export MS_HOST
trap 'exit 0' INT TERM		# Ctrl-C is the normal way out; EXIT cleans up

run_as=$(id -un)
if [ "$(id -u)" = 0 ]; then
	run_as=nobody
	chown -R "nobody:$(id -gn nobody)" "$LAB" || die "cannot chown $LAB to nobody"
	chmod 755 "$LAB"
	# nobody must reach the lab: every directory above it must be searchable
	setpriv --reuid nobody --regid "$(id -g nobody)" --clear-groups test -r "$LAB/passwd" ||
		die "user nobody cannot reach $LAB: give it another place with LAB_DIR=/tmp/lab"
fi

args_for() { # args_for NAME: the server arguments, one per line
	if [ "$1" = smtpd ]; then ms_args "$1" -d "$domains"; else ms_args "$1"; fi
}

start_xinetd() {
	conf=$LAB/xinetd.conf log=$LAB/xinetd.log
	: > "$conf"
	for sp in $servers; do
		s=${sp%=*} p=${sp#*=}
		# shellcheck disable=SC2046
		MS_LIMITS=1 MS_XINETD_LOG=$log ms_xinetd_conf "$s" "$MS_OUT/$s/$s" "$p" "$run_as" $(args_for "$s") >> "$conf"
	done
	: > "$log"
	[ "$(id -u)" = 0 ] && chown nobody "$log"
	setsid xinetd -dontfork -filelog "$log" -f "$conf" </dev/null >/dev/null 2>&1 &
	pid=$!
	for sp in $servers; do echo "$pid ${sp#*=}" >> "$MS_LAB/launchers"; done
	n=0
	while [ $n -lt 250 ]; do
		up=1
		for sp in $servers; do ms_listening "${sp#*=}" || up=; done
		[ -n "$up" ] && return 0
		ms_alive $pid || break
		if grep -q 'bind failed' "$log"; then
			grep 'bind failed' "$log" >&2
			die "a lab port is taken (another lab or server running?); set LAB_SMTP_PORT etc."
		fi
		sleep 0.02
		n=$((n + 1))
	done
	echo "lab: xinetd did not start; its log:" >&2
	cat "$log" >&2
	ms_stop_all
	return 1
}

start_ssa() {
	command -v systemd-socket-activate >/dev/null ||
		die "neither xinetd nor systemd-socket-activate can run (make deps)"
	for sp in $servers; do
		s=${sp%=*} p=${sp#*=}
		# shellcheck disable=SC2046
		MS_PORT=$p ms_start "$s" $( [ "$s" = smtpd ] && echo "-d $domains") >/dev/null ||
			die "could not start $s on port $p"
	done
	return 0
}

if [ "${MS_LAUNCHER:-auto}" != ssa ] && command -v xinetd >/dev/null && start_xinetd; then
	how="xinetd, config $LAB/xinetd.conf, log $LAB/xinetd.log"
else
	MS_LAUNCHER=ssa
	[ "$(id -u)" = 0 ] && MS_AS_USER=nobody && export MS_AS_USER
	start_ssa
	how="systemd-socket-activate, logs $LAB/*.log"
fi

cat <<EOF

mailsuite lab running on 127.0.0.1 ($how)
Servers run as $run_as; spool $MS_SPOOL; demo account: etudiant / Etudiant1
Mail is accepted for: etudiant@localhost, etudiant@$MS_HOST

EOF
for sp in $servers; do
	s=${sp%=*} p=${sp#*=}
	case $s in
	smtpd) cat <<EOF
SMTP   telnet 127.0.0.1 $p
         HELO Bonjour je suis un etudiant
         MAIL FROM:<mbappe@fft.fr>
         RCPT TO:<etudiant@localhost>
         DATA
         Cher etudiant ...
         .
         QUIT
EOF
	;;
	pop3d) cat <<EOF
POP3   telnet 127.0.0.1 $p
         user etudiant / pass Etudiant1 / stat / list / top 1 1 / retr 1 / quit
EOF
	;;
	imapd) cat <<EOF
IMAP   telnet 127.0.0.1 $p
         1 login etudiant Etudiant1 / 2 list "" "*" / 3 examine inbox
         4 fetch 1 body[] / 5 logout
EOF
	;;
	esac
done
cat <<EOF

The mailbox file: $MS_SPOOL/etudiant
Ctrl-C stops the lab.
EOF

# Foreground until Ctrl-C (the EXIT trap from ms_lab_init stops everything
# and keeps the lab directory) or until the launchers die.
while :; do
	alive=
	for pid in $(awk '{ print $1 }' "$MS_LAB/launchers" | sort -u); do
		ms_alive "$pid" && alive=1
	done
	[ -n "$alive" ] || { echo "lab: the launcher exited; see the logs in $LAB" >&2; exit 1; }
	sleep 1
done
