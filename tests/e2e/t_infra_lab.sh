#!/bin/sh
# t_infra_lab: tests/lab.sh ("make run") on free ports in a temp dir: it
# starts the built servers, prints how to connect, the seed's three
# sessions work through it (SMTP to etudiant@localhost and @hostname, POP3
# and IMAP reading the mail back), and SIGTERM stops everything.
. "$(dirname "$0")/lib.sh"
have=
for s in smtpd pop3d imapd; do [ -x "$MS_OUT/$s/$s" ] && have="$have $s"; done
[ -n "$have" ] || ms_skip "no server built under $MS_OUT"
ms_lab_init
chmod 755 "$MS_LAB"	# as root the lab runs its servers as nobody
fails=0
check() { _w=$1; shift; if "$@"; then echo "ok   $_w"; else echo "FAIL $_w"; fails=$((fails + 1)); fi; }
LAB_DIR=$MS_LAB/lab LAB_SMTP_PORT=$(ms_free_port) LAB_POP3_PORT=$(ms_free_port) LAB_IMAP_PORT=$(ms_free_port)
export LAB_DIR LAB_SMTP_PORT LAB_POP3_PORT LAB_IMAP_PORT
: > "$MS_LAB/lab.out"
setsid sh "$MS_SRCDIR/tests/lab.sh" > "$MS_LAB/lab.out" 2>&1 </dev/null &
lab=$!
n=0
while ! grep -q 'Ctrl-C stops the lab' "$MS_LAB/lab.out" && ms_alive $lab && [ $n -lt 500 ]; do
	sleep 0.02; n=$((n + 1))
done
cat "$MS_LAB/lab.out"
check "lab.sh starts and says how to stop" grep -q 'Ctrl-C stops the lab' "$MS_LAB/lab.out"
check "lab.sh names the demo account" grep -q 'etudiant / Etudiant1' "$MS_LAB/lab.out"
host=$(hostname -f 2>/dev/null || hostname)
case $have in *smtpd*)
	check "lab prints the telnet line for SMTP" grep -q "telnet 127.0.0.1 $LAB_SMTP_PORT" "$MS_LAB/lab.out"
	for rcpt in etudiant@localhost "etudiant@$host"; do
		out=$(printf 'HELO Bonjour je suis un etudiant\r\nMAIL FROM:<mbappe@fft.fr>\r\nRCPT TO:<%s>\r\nDATA\r\nCher etudiant que vous etes bon\r\n.\r\nQUIT\r\n' "$rcpt" |
			ms_nc "$LAB_SMTP_PORT" | tr -d '\r' | cut -c1-3 | tr '\n' ' ')
		check "seed SMTP session to $rcpt ($out)" [ "$out" = "220 250 250 250 354 250 221 " ]
	done
	check "two messages in the lab mailbox" [ "$(grep -c '^From ' "$LAB_DIR/spool/etudiant" 2>/dev/null)" = 2 ]
	;;
esac
case $have in *pop3d*)
	out=$(printf 'user etudiant\r\npass Etudiant1\r\nstat\r\nquit\r\n' | ms_nc "$LAB_POP3_PORT" | tr -d '\r')
	case $have in
	*smtpd*) check "seed POP3 session: stat sees 2 messages" sh -c 'echo "$1" | grep -q "^+OK 2 "' x "$out" ;;
	*) check "seed POP3 session logs in" sh -c 'echo "$1" | sed -n 3p | grep -q "^+OK"' x "$out" ;;
	esac
	;;
esac
case $have in *imapd*)
	out=$(printf '1 login etudiant Etudiant1\r\n2 list "" "*"\r\n3 examine inbox\r\n5 logout\r\n' | ms_nc "$LAB_IMAP_PORT" | tr -d '\r')
	check "seed IMAP session: login, list, examine, logout" sh -c 'echo "$1" | grep -q "^1 OK" && echo "$1" | grep -q "^2 OK" && echo "$1" | grep -q "^3 OK" && echo "$1" | grep -q "^5 OK"' x "$out"
	;;
esac
kill -TERM $lab
n=0; while ms_alive $lab && [ $n -lt 250 ]; do sleep 0.02; n=$((n + 1)); done
check "SIGTERM stops lab.sh" eval '! ms_alive $lab'
for p in $LAB_SMTP_PORT $LAB_POP3_PORT $LAB_IMAP_PORT; do
	check "port $p closed after the stop" eval '! ms_listening $p'
done
check "the spool survives the stop" [ -d "$LAB_DIR/spool" ]
[ $fails -eq 0 ]
