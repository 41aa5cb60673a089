#!/bin/sh
# t_infra_xinetd: each shipped xinetd.d file, changed only as far as a test
# needs (port -> a free port, bind 127.0.0.1, type UNLISTED, @SBINDIR@ -> a
# stub server; user -> ourselves when not root), is accepted by the real
# xinetd without an error or a warning, and starts the named server with the
# shipped arguments.
. "$(dirname "$0")/lib.sh"
command -v xinetd >/dev/null || ms_skip "xinetd not installed (make deps)"
ms_lab_init
fails=0
sbin=$MS_LAB/sbin
mkdir -p "$sbin"
for name in smtpd pop3d imapd; do
	f=$MS_SRCDIR/xinetd.d/$name
	[ -f "$f" ] || { echo "FAIL xinetd.d/$name missing"; fails=$((fails + 1)); continue; }
	printf '#!/bin/sh\nprintf "%s args=%%s\\r\\n" "$*"\n' "$name" > "$sbin/$name"
	chmod 755 "$sbin/$name"
	port=$(ms_free_port)
	conf=$MS_LAB/$name.conf log=$MS_LAB/$name-$port.log
	sed -e "s|@SBINDIR@|$sbin|g" \
	    -e "s|^\([[:space:]]*port[[:space:]]*=\).*|\1 $port|" \
	    -e "s|^{|{\n\ttype = UNLISTED\n\tbind = 127.0.0.1|" "$f" > "$conf"
	[ "$(id -u)" = 0 ] || sed -i "s|^\([[:space:]]*user[[:space:]]*=\).*|\1 $(id -un)|" "$conf"
	if grep -q '@[A-Z]*@' "$conf"; then
		echo "FAIL xinetd.d/$name: unknown @VAR@ left after substitution"; fails=$((fails + 1))
	fi
	: > "$log"
	setsid xinetd -dontfork -filelog "$log" -f "$conf" </dev/null >/dev/null 2>&1 &
	echo "$! $port" >> "$MS_LAB/launchers"
	n=0
	while ! ms_listening "$port" && [ $n -lt 250 ]; do sleep 0.02; n=$((n + 1)); done
	out=$(ms_nc "$port" </dev/null | tr -d '\r')
	if [ "$out" = "$name args=-s /var/mail" ] &&
	   grep -q 'Started working: 1 available service' "$log" &&
	   ! grep -q -e ERROR -e WARNING "$log"; then
		echo "ok   xinetd.d/$name: xinetd accepts it and starts $name ($out)"
	else
		echo "FAIL xinetd.d/$name: server said '$out'; xinetd log:"; cat "$log"
		fails=$((fails + 1))
	fi
	ms_stop "$port"
done
[ $fails -eq 0 ]
