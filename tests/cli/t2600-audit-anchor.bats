#!/usr/bin/env bats
# t2600-audit-anchor: anchors leave the host on their own. Sinks are
# configured in the home (a directory, a syslog collector over TCP or
# UDP); `airlock audit anchor` seals, sends the signed checkpoint to each,
# and every sink that did not get it is an audit entry, an alert, a metric
# and exit 4. The anchor a sink holds then catches a log cut short.

load ../lib/common

setup() {
	common_setup
	mkhome
	helper mklog "$AIRLOCK_HOME" 50 >/dev/null
}

teardown() {
	if [ -n "${listener:-}" ]; then
		kill "$listener" 2>/dev/null || true
		wait "$listener" 2>/dev/null || true
	fi
}

# listen: a syslog collector on 127.0.0.1 (tests/fixtures/syslog_listener.py);
# sets $tcp and $udp to its ports, messages go to received.txt.
listen() {
	python3 "$ROOT_DIR/tests/fixtures/syslog_listener.py" received.txt ports &
	listener=$!
	for _ in $(seq 100); do [ -s ports ] && break; sleep 0.05; done
	tcp=$(sed -n 's/^tcp //p' ports)
	udp=$(sed -n 's/^udp //p' ports)
	[ -n "$tcp" ] && [ -n "$udp" ]
}

# wait_lines N: until received.txt has N lines (2 s at most)
wait_lines() {
	for _ in $(seq 40); do [ "$(wc -l <received.txt 2>/dev/null || echo 0)" -ge "$1" ] && return; sleep 0.05; done
	return 1
}

@test 'without a sink, anchor refuses: an anchor must leave the host' {
	run -2 airlock audit anchor
	out_has "no sinks" "airlock audit sink add"
}

@test 'sink add checks what it is given, and every change is audited' {
	run -2 airlock audit sink add Bad --dir "$PWD/w"
	out_has "sink name 'Bad'"
	run -2 airlock audit sink add w
	out_has "one of --dir PATH or --syslog URL"
	run -2 airlock audit sink add w --dir "$PWD/w" --syslog tcp://127.0.0.1:514
	run -2 airlock audit sink add w --dir relative/path
	out_has "an absolute path"
	run -2 airlock audit sink add s --syslog http://siem:514
	out_has "tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT"
	run -2 airlock audit sink add s --syslog tcp://siem:99999
	out_has "the port is a number from 1 to 65535"
	run -2 airlock audit sink add s --syslog tcp://siem
	out_has "no :PORT"
	run -0 airlock audit sink add worm --dir "$PWD/worm"
	run -0 airlock audit sink add siem --syslog 'tcp://[::1]:6514'
	run -2 airlock audit sink add worm --dir "$PWD/other"
	out_has "sink worm exists already"
	run -0 airlock --json audit sink list
	[ "$(printf '%s' "$output" | jq -c '[.[] | [.name, .kind, .target]]')" = "[[\"worm\",\"dir\",\"$PWD/worm\"],[\"siem\",\"syslog\",\"tcp://[::1]:6514\"]]" ]
	run -0 airlock audit sink remove siem
	run -2 airlock audit sink remove siem
	out_has "no sink siem"
	run -0 jq -r 'select(.event | startswith("sink.")) | "\(.event) \(.sink) \(.kind)"' "$(seg 1)"
	[ "$output" = "$(printf 'sink.added worm dir\nsink.added siem syslog\nsink.removed siem syslog')" ]
	# a config that does not parse is named, never taken as "no sinks"
	echo '{"format": "airlock.sinks/1", "sinks": [{"name": "x"}]}' >home/audit/sinks.json
	run -2 airlock audit anchor
	out_has "sinks.json: sink x"
}

@test 'an anchor to a directory: whole, signed, and what a cut log fails against' {
	airlock -q audit sink add worm --dir "$PWD/worm"
	airlock -q audit query --event run.start >/dev/null # a read, sealed in by the anchor
	run -0 airlock audit anchor
	out_has "sent to worm"
	d=$(ls -d worm/*/checkpoint-*)
	[ "$(echo "$d" | wc -l)" = 1 ]
	ls "$d" | sort | tr '\n' ' ' | grep -qx 'checkpoint.txt checkpoint.txt.minisig checkpoint.txt.sig host.pub '
	run -0 minisign -Vm "$d/checkpoint.txt" -p "$d/host.pub"
	size=$(sed -n 2p "$d/checkpoint.txt")
	[ "${d##*checkpoint-}" = "$(printf '%012d' "$size")" ]
	# sealed at its head; the anchor's own entries sealed too
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict --anchor "$d/checkpoint.txt"
	out_has "anchored off-host up to #$size"
	out_lacks "unsealed tail"
	run -0 jq -r 'select(.event == "anchor.sent") | "\(.sink) \(.kind) \(.size)"' "$(seg 1)"
	[ "$output" = "worm dir $size" ]
	# the log cut back before the anchored entry: the sink's anchor says so
	head -n $((size - 2)) "$(seg 1)" >cut.tmp && cat cut.tmp >"$(seg 1)"
	run -1 airlock-verify audit home/audit --seal-pub seal.pub --anchor "$d/checkpoint.txt"
	out_has "the log was truncated"
}

@test 'a checkpoint directory planted on the share is not taken for the anchor' {
	airlock -q audit sink add worm --dir "$PWD/worm"
	airlock -q audit anchor
	d=$(ls -d worm/*/checkpoint-*)
	n=$(sed -n 2p "$d/checkpoint.txt")
	# whatever entry the next anchor covers, a forged checkpoint is there first
	for k in $(seq $((n + 1)) $((n + 12))); do
		f=$(dirname "$d")/checkpoint-$(printf '%012d' "$k")
		mkdir "$f"
		sed "2s/.*/$k/; 3s/.*/$(printf '%064d' 0)/" "$d/checkpoint.txt" >"$f/checkpoint.txt"
	done
	run -4 airlock audit anchor
	out_has "holds another entry"
	run -0 jq -r 'select(.event == "anchor.failed") | .reason' "$(seg 1)"
	out_has "holds another entry"
}

@test 'an anchor to a syslog collector over TCP and UDP: RFC 5424, verifiable from the message alone' {
	listen
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$tcp"
	airlock -q audit sink add siem-udp --syslog "udp://127.0.0.1:$udp"
	run -0 airlock audit anchor
	wait_lines 2
	grep -c '^tcp <109>1 ' received.txt
	grep -c '^udp <109>1 ' received.txt
	m=$(grep '^tcp ' received.txt | head -1)
	[[ $m == *" airlock "*" anchor [airlock@32473 "* ]]
	# the checkpoint's text is in the message; its signature by the seal
	# key in force verifies with openssl, and that key is the one the log names
	sd() { printf '%s' "$m" | sed -n "s/.* $1=\"\\([^\"]*\\)\".*/\\1/p"; }
	printf '%s %s\n%s\n%s\n%s\n' "$(sd format)" "$(sd log_id)" "$(sd size)" "$(sd head)" "$(sd checkpoint_ts)" >cp.txt
	hex2bin() { printf '%s' "$1" | tr a-f A-F | basenc --base16 -d; }
	hex2bin "302a300506032b6570032100$(sd seal_pub)" >key.der
	hex2bin "$(sd sig)" >cp.sig
	run -0 openssl pkeyutl -verify -pubin -keyform DER -inkey key.der -rawin -in cp.txt -sigfile cp.sig
	n=$(sd size)
	seal_line=$(jq -c "select(.seq <= $n and .event == \"seal\")" "$(seg 1)" | tail -1)
	[ "$(printf '%s' "$seal_line" | jq -r .next_pub)" = "$(sd seal_pub)" ]
	[ "$(sha256sum < <(sed -n "${n}p" "$(seg 1)") | cut -c1-64)" = "$(sd head)" ]
}

@test 'a sink that is down: anchor.failed, an alert, a metric, exit 4; the others still get it' {
	airlock -q audit sink add worm --dir "$PWD/worm"
	# a port nobody listens on
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$port"
	run -4 airlock audit anchor
	out_has "anchor to sink siem (tcp://127.0.0.1:$port) failed" "Connection refused"
	[ -n "$(ls -d worm/*/checkpoint-*)" ]
	run -0 jq -r 'select(.event == "anchor.failed" or (.event == "alert" and .kind == "anchor-failed")) | "\(.event) \(.sink)"' "$(seg 1)"
	[ "$output" = "$(printf 'anchor.failed siem\nalert siem')" ]
	grep -qx 'airlock_anchor_last_result{sink="siem"} 0' home/metrics/airlock-anchor.prom
	grep -qx 'airlock_anchor_failures_total{sink="siem"} 1' home/metrics/airlock-anchor.prom
	grep -qx 'airlock_anchor_last_result{sink="worm"} 1' home/metrics/airlock-anchor.prom
	if command -v promtool >/dev/null; then
		run -0 promtool check metrics <home/metrics/airlock-anchor.prom
	fi
	# the failure is in the log, sealed: the log verifies
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
	# again: the counter counts
	run -4 airlock audit anchor
	grep -qx 'airlock_anchor_failures_total{sink="siem"} 2' home/metrics/airlock-anchor.prom
}

@test 'a full disk at the sink: exit 4, and no checkpoint left there looking complete' {
	[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount a tmpfs here"
	head -c 60k /dev/zero >small/filler 2>/dev/null || true
	airlock -q audit sink add worm --dir "$PWD/small/worm"
	run airlock audit anchor
	ls -laR small >&2 || true
	df small >&2
	[ "$status" -eq 4 ] || { umount small; false; }
	out_has "No space left on device"
	[ -z "$(find small -name 'checkpoint-*' -o -name '.checkpoint-*')" ] || { umount small; false; }
	umount small
	run -0 jq -r 'select(.event == "anchor.failed") | .reason' "$(seg 1)"
	out_has "No space left on device"
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
}
