# lib.sh - the lab launcher for shell end-to-end tests (the twin of mslib.py).
#
# Starts the REAL server binaries behind the REAL xinetd (the shipped
# xinetd.d/NAME file, ports and paths substituted) or, without xinetd or with
# MS_LAUNCHER=ssa, systemd-socket-activate --accept --inetd; always on
# 127.0.0.1, on free ports chosen by the kernel.
#
#   . "$(dirname "$0")/lib.sh"
#   ms_lab_init                     # $MS_LAB: spool/ (0700), passwd with etudiant/Etudiant1;
#                                   # cleanup trap on EXIT INT TERM
#   port=$(ms_start smtpd) || exit  # or: ms_start pop3d -t 5   (prints the port;
#                                   # exits 77 when the binary is not built)
#   printf 'QUIT\r\n' | ms_nc "$port"
#   ms_stop_all                     # also done by the trap
#
# Functions
#   ms_skip REASON          print "SKIP: REASON", exit 77
#   ms_require_root         skip unless uid 0
#   ms_bin NAME             path of $MS_OUT/NAME/NAME; skips (77) when not built
#   ms_lab_init [DIR]       create the lab (default: mktemp -d; removed at exit
#                           unless MS_KEEP_LAB=1); sets MS_LAB MS_SPOOL MS_PASSWD
#                           MS_HOST (mail.test) and MS_LAUNCHER (xinetd|ssa)
#   ms_add_user NAME PASS [UID GID]   append to the passwd file (SHA-512 crypt)
#   ms_mbox USER            path of USER's mbox in the lab spool
#   ms_free_port            a free port on 127.0.0.1
#   ms_start NAME|PATH [ARGS...]      start one launcher; prints the port.  Server
#                           args: -s SPOOL -p PASSWD -h mail.test, the shipped
#                           file's own args not overridden, then ARGS.
#                           Environment knobs: MS_PORT (fixed port), MS_AS_USER
#                           (root: run the server as that user, lab chowned),
#                           MS_LIMITS=1 (keep the shipped instances/per_source/
#                           cps limits; default lifted), MS_NO_LAB_ARGS=1 (no
#                           lab args: for foreign programs)
#   ms_log PORT             print the launcher's log (xinetd filelog / ssa stderr)
#   ms_stop PORT / ms_stop_all / ms_cleanup
#   ms_nc PORT              stdin to the server (all at once, then a half-close:
#                           the server sees EOF after it), the server's output
#                           to stdout; ends at the server's EOF or after
#                           $MS_NC_TIMEOUT (10) s of silence.  For step-by-step
#                           dialogues use python (mslib.Conn).
#
# As root the servers run as root unless MS_AS_USER is set, and a passwd
# entry without UID GID means uid 0, which pop3d/imapd refuse: use
# MS_AS_USER=nobody, or ms_add_user with an unprivileged UID GID.
# Under xinetd fds 0, 1 and 2 of the server are the socket: servers must not
# write to stderr.  Arguments cannot contain blanks (xinetd splits on them).

MS_SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MS_OUT=${MS_OUT:-$MS_SRCDIR}
MS_HOST=mail.test

ms_skip() { echo "SKIP: $*"; exit 77; }
ms_require_root() { [ "$(id -u)" = 0 ] || ms_skip "needs root (uid 0)"; }

ms_bin() {
	_b=$MS_OUT/$1/$1
	[ -x "$_b" ] || ms_skip "$1 not built ($_b missing)"
	echo "$_b"
}

ms_hash() {
	python3 -W ignore -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "$1" 2>/dev/null ||
		printf '%s\n' "$1" | openssl passwd -6 -stdin
}

ms_add_user() {
	_e="$1:$(ms_hash "$2")"
	[ -n "$3" ] && _e="$_e:$3:${4:-$3}"
	echo "$_e" >> "$MS_PASSWD"
}

ms_mbox() { echo "$MS_SPOOL/$1"; }

ms_lab_init() {
	if [ -n "$1" ]; then
		MS_LAB=$1; mkdir -p "$MS_LAB"; MS_LAB_OWN=
	else
		MS_LAB=$(mktemp -d "${TMPDIR:-/tmp}/ms-lab-XXXXXX"); MS_LAB_OWN=1
	fi
	MS_SPOOL=$MS_LAB/spool MS_PASSWD=$MS_LAB/passwd
	mkdir -p "$MS_SPOOL" && chmod 700 "$MS_SPOOL"
	: > "$MS_LAB/launchers"
	: >> "$MS_PASSWD" && chmod 600 "$MS_PASSWD"
	ms_add_user etudiant Etudiant1
	case ${MS_LAUNCHER:-auto} in
	auto) if command -v xinetd >/dev/null; then MS_LAUNCHER=xinetd; else MS_LAUNCHER=ssa; fi ;;
	xinetd|ssa) ;;
	*) echo "lib.sh: MS_LAUNCHER must be xinetd or ssa" >&2; exit 2 ;;
	esac
	if [ "$MS_LAUNCHER" = xinetd ]; then _need=xinetd; else _need=systemd-socket-activate; fi
	command -v $_need >/dev/null || ms_skip "$_need not installed (make deps)"
	export MS_LAB MS_SPOOL MS_PASSWD MS_LAUNCHER MS_HOST
	trap 'ms_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

ms_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ms_listening PORT: true when something listens on TCP PORT.
ms_listening() {
	_hex=$(printf ':%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p="$_hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

# ms_args NAME ARGS...: the merged server arguments, one per line.
ms_args() {
	_name=$1; shift
	_shipped=
	[ -f "$MS_SRCDIR/xinetd.d/$_name" ] && _shipped=$(sed -n 's/^[[:space:]]*server_args[[:space:]]*=[[:space:]]*//p' "$MS_SRCDIR/xinetd.d/$_name")
	[ -n "$MS_NO_LAB_ARGS" ] && { _shipped=; _lab=; } || _lab="-s $MS_SPOOL -p $MS_PASSWD -h $MS_HOST"
	# lab args, then shipped options not given by lab or extra, then extra
	printf '%s\n' "$_lab" "--" "$_shipped" "--" "$*" | awk '
	BEGIN { part = 0 }
	function add(list, n,   i, a, k) {
		n = split(list, a, /[ \t]+/)
		for (i = 1; i <= n; i++) {
			if (a[i] == "") continue
			k = a[i]
			if (k ~ /^-[sphtdzm]$/ && i < n) { vals[part, ++cnt[part]] = k " " a[++i] }
			else vals[part, ++cnt[part]] = k
			keys[part, cnt[part]] = k
			if (part != 1) given[k] = 1
		}
	}
	$0 == "--" { part++; next }
	{ add($0) }
	END {
		for (p = 0; p <= 2; p++)
			for (i = 1; i <= cnt[p]; i++)
				if (p != 1 || !(keys[p, i] in given)) print vals[p, i]
	}' | tr ' ' '\n' | sed '/^$/d'
}

# ms_xinetd_conf NAME SERVERPATH PORT USER ARGS...: a one-service config from
# the shipped file, on stdout.
ms_xinetd_conf() {
	_name=$1 _path=$2 _port=$3 _user=$4; shift 4
	_tmpl=$MS_SRCDIR/xinetd.d/$_name
	[ -f "$_tmpl" ] || _tmpl=/dev/null
	echo "service ms-$_name-$_port"
	echo "{"
	awk -v limits="${MS_LIMITS:-}" '
		{ sub(/#.*/, "") }
		/^[[:space:]]*service[[:space:]]/ || /^[[:space:]]*[{}][[:space:]]*$/ || NF == 0 { next }
		{
			k = $1; sub(/[+-]?=.*/, "", k)
			if (k ~ /^(type|port|bind|user|group|server|server_args|log_type|disable|env|passenv|redirect)$/) next
			if (limits == "" && k ~ /^(instances|per_source|cps|max_load)$/) next
			print "\t" $0
		}' "$_tmpl" | sed 's/^\t[[:space:]]*/\t/'
	if [ "$_tmpl" = /dev/null ]; then
		printf '\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n'
	fi
	printf '\ttype = UNLISTED\n\tport = %s\n\tbind = 127.0.0.1\n\tuser = %s\n\tserver = %s\n' \
		"$_port" "$_user" "$_path"
	[ $# -gt 0 ] && printf '\tserver_args = %s\n' "$*"
	# per-connection lines (log_on_success/failure) into the lab's log too
	[ -n "$MS_XINETD_LOG" ] && printf '\tlog_type = FILE %s\n' "$MS_XINETD_LOG"
	[ -z "$MS_LIMITS" ] && printf '\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n\tcps = 100000 1\n'
	echo "}"
}

ms_start() {
	_srv=$1; shift
	case $_srv in
	*/*) _path=$_srv _name=$(basename "$_srv") ;;
	*) _path=$(ms_bin "$_srv") || { echo "$_path" >&2; exit 77; }; _name=$_srv ;;
	esac
	# shellcheck disable=SC2046
	set -- $(ms_args "$_name" "$@")
	_user=$(id -un)
	if [ -n "$MS_AS_USER" ]; then
		[ "$(id -u)" = 0 ] || { echo "ms_start: MS_AS_USER needs root" >&2; return 1; }
		_user=$MS_AS_USER
		chmod 755 "$MS_LAB"
		chown -R "$MS_AS_USER:$(id -gn "$MS_AS_USER")" "$MS_LAB"
	fi
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		_port=${MS_PORT:-$(ms_free_port)}
		_log=$MS_LAB/$_name-$_port.log
		: > "$_log"
		if [ "$MS_LAUNCHER" = xinetd ]; then
			MS_XINETD_LOG=$_log ms_xinetd_conf "$_name" "$_path" "$_port" "$_user" "$@" \
				> "$MS_LAB/$_name-$_port.xinetd.conf"
			setsid xinetd -dontfork -filelog "$_log" -f "$MS_LAB/$_name-$_port.xinetd.conf" \
				</dev/null >/dev/null 2>&1 &
		elif [ -n "$MS_AS_USER" ]; then
			setsid systemd-socket-activate -l "127.0.0.1:$_port" --accept --inetd \
				setpriv --reuid "$MS_AS_USER" --regid "$(id -g "$MS_AS_USER")" --init-groups -- \
				"$_path" "$@" </dev/null >>"$_log" 2>&1 &
		else
			setsid systemd-socket-activate -l "127.0.0.1:$_port" --accept --inetd \
				"$_path" "$@" </dev/null >>"$_log" 2>&1 &
		fi
		_pid=$!
		echo "$_pid $_port" >> "$MS_LAB/launchers"
		_n=0
		while [ $_n -lt 500 ]; do
			if ms_listening "$_port"; then echo "$_port"; return 0; fi
			kill -0 $_pid 2>/dev/null || break
			grep -q -e 'bind failed' -e ' 0 available services' "$_log" 2>/dev/null && break
			sleep 0.02
			_n=$((_n + 1))
		done
		ms_stop "$_port"
		[ -n "$MS_PORT" ] && break
	done
	echo "ms_start: could not start $_srv under $MS_LAUNCHER; log:" >&2
	cat "$_log" >&2
	return 1
}

ms_log() { cat "$MS_LAB"/*-"$1".log 2>/dev/null; }

# ms_alive PID: the process exists and is not a zombie.
ms_alive() {
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
	''|Z*) return 1 ;;
	esac
	return 0
}

# ms_descendants PID...: every descendant process id.
ms_descendants() {
	for _d in $(cat /proc/[0-9]*/stat 2>/dev/null |
		sed 's/^\([0-9]*\) (.*) [A-Za-z] \([0-9]*\) .*/\2 \1/' |
		awk -v roots="$*" 'BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
			{ kids[$1] = kids[$1] " " $2 }
			END { while (n > 0) { p = r[n--]; m = split(kids[p], k, " ");
				for (i = 1; i <= m; i++) { print k[i]; r[++n] = k[i] } } }'); do
		echo "$_d"
	done
}

# ms_stop PORT: stop the launcher on PORT and whatever servers it runs.
ms_stop() {
	[ -f "$MS_LAB/launchers" ] || return 0
	_pid=$(awk -v p="$1" '$2 == p { print $1 }' "$MS_LAB/launchers")
	[ -n "$_pid" ] || return 0
	# xinetd gives each server a session of its own: find them as descendants
	_all="$_pid $(ms_descendants "$_pid")"
	for _sig in TERM KILL; do
		for _p in $_all; do kill -$_sig "$_p" 2>/dev/null; done
		_n=0 _left=1
		while [ $_n -lt 100 ]; do
			_left=
			for _p in $_all; do ms_alive "$_p" && _left=1; done
			[ -z "$_left" ] && break
			sleep 0.03
			_n=$((_n + 1))
		done
		[ -z "$_left" ] && break
	done
	awk -v p="$1" '$2 != p' "$MS_LAB/launchers" > "$MS_LAB/launchers.new" &&
		mv "$MS_LAB/launchers.new" "$MS_LAB/launchers"
	return 0
}

ms_stop_all() {
	[ -n "$MS_LAB" ] && [ -f "$MS_LAB/launchers" ] || return 0
	for _port in $(awk '{ print $2 }' "$MS_LAB/launchers"); do ms_stop "$_port"; done
}

ms_cleanup() {
	_rc=$?
	ms_stop_all
	if [ -n "$MS_LAB_OWN" ] && [ -z "$MS_KEEP_LAB" ]; then rm -rf "$MS_LAB"; fi
	return $_rc
}

ms_nc() {
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2]))
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        sys.stdout.buffer.write(d)
except socket.timeout:
    pass
' "$1" "${MS_NC_TIMEOUT:-10}"
}
