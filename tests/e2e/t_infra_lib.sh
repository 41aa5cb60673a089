#!/bin/sh
# t_infra_lib: the shell launcher (lib.sh) with a trivial inetd-style stub,
# under each launcher installed: lab layout, argument merge, a session both
# ways, two labs side by side, and that ms_stop frees the port and ends the
# running sessions.
. "$(dirname "$0")/lib.sh"

fails=0
check() { # check WHAT COMMAND...
	_what=$1; shift
	if "$@"; then echo "ok   $_what"; else echo "FAIL $_what"; fails=$((fails + 1)); fi
}
refused() { ! python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)' "$1" 2>/dev/null; }

kinds=
command -v xinetd >/dev/null && kinds="$kinds xinetd"
command -v systemd-socket-activate >/dev/null && kinds="$kinds ssa"
[ -n "$kinds" ] || ms_skip "neither xinetd nor systemd-socket-activate installed (make deps)"

for kind in $kinds; do
	echo "== launcher $kind"
	(
	MS_LAUNCHER=$kind
	ms_lab_init
	stub=$MS_LAB/stub
	printf '#!/bin/sh\nprintf "hello uid=%%s args=%%s\\r\\n" "$(id -u)" "$*"\nwhile IFS= read -r l; do printf "echo: %%s\\n" "$l"; done\n' > "$stub"
	chmod 755 "$stub" "$MS_LAB"
	check "$kind: spool 0700" [ "$(stat -c %a "$MS_SPOOL")" = 700 ]
	check "$kind: passwd has etudiant (\$6\$)" grep -q '^etudiant:\$6\$' "$MS_PASSWD"
	h=$(sed -n 's/^etudiant:\([^:]*\).*/\1/p' "$MS_PASSWD")
	salt=$(echo "$h" | cut -d'$' -f3)
	check "$kind: hash is of Etudiant1" [ "$(openssl passwd -6 -salt "$salt" Etudiant1)" = "$h" ]
	port=$(ms_start "$stub" -t 5) || exit 1
	out=$(printf 'bonjour\r\n' | ms_nc "$port" | tr -d '\r')
	check "$kind: args merged ($out)" [ "$(echo "$out" | head -1)" = "hello uid=$(id -u) args=-s $MS_SPOOL -p $MS_PASSWD -h mail.test -t 5" ]
	check "$kind: line echoed" [ "$(echo "$out" | sed -n 2p)" = "echo: bonjour" ]
	port2=$(MS_NO_LAB_ARGS=1 ms_start "$stub") || exit 1
	check "$kind: second service on another port" [ "$port" != "$port2" ]
	check "$kind: no lab args" [ "$(printf '' | ms_nc "$port2" | tr -d '\r')" = "hello uid=$(id -u) args=" ]
	# a session left open must end with ms_stop
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = b""
while not got.endswith(b"\n"):
    got += s.recv(1)
open(sys.argv[2], "w").close()
s.settimeout(8)
try:
    sys.exit(0 if s.recv(100) == b"" else 1)
except ConnectionResetError:
    sys.exit(0)
except socket.timeout:
    sys.exit(1)' "$port" "$MS_LAB/connected" &
	waiter=$!
	n=0; while [ ! -e "$MS_LAB/connected" ] && [ $n -lt 200 ]; do sleep 0.02; n=$((n + 1)); done
	ms_stop "$port"
	check "$kind: ms_stop frees the port" refused "$port"
	check "$kind: ms_stop ends the open session" wait $waiter
	ms_stop_all
	check "$kind: ms_stop_all" refused "$port2"
	exit $fails
	) || fails=$((fails + 1))
done
[ $fails -eq 0 ] || { echo "$fails launcher(s) failed"; exit 1; }
echo "all lib.sh checks passed:$kinds"
