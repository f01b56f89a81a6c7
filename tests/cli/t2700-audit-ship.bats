#!/usr/bin/env bats
# t2700-audit-ship: every entry leaves the host (audit/FORMAT.md §13). A
# real rsyslog on 127.0.0.1 is the SIEM (tests/fixtures/rsyslog.bash),
# a directory the replica; entries written while the SIEM is down wait in
# the log and arrive once it is back; after the home is wiped, the log
# restored from the SIEM's raw file, from its RFC 5424 file and from the
# replica each verify against the public seal key, byte for byte. Then a
# collector that drops the connection mid-stream, a lost cursor, a full
# replica, UDP, and restores that must fail.

load ../lib/common
load ../fixtures/rsyslog

setup() {
	common_setup
	mkhome --segment-size 8K --seal-every 7
}

teardown() {
	siem_stop
	[ -z "${DROPPER:-}" ] || kill "$DROPPER" 2>/dev/null || true
	mountpoint -q replica 2>/dev/null && umount replica || true
}

# notes N [SIZE]: N manual entries of about SIZE bytes each.
notes() {
	local pad
	pad=$(head -c "${2:-300}" /dev/zero | tr '\0' x)
	for i in $(seq "$1"); do
		airlock -q audit append --event test.note --field "i=$i" --field "pad=$pad"
	done
}

# the_log [N]: the log's lines (the first N), as one stream.
the_log() {
	cat "$AIRLOCK_HOME"/audit/audit-*.jsonl | head -n "${1:-999999999}"
}

@test 'entries wait while the SIEM is down, arrive when it is back; a wiped home is restored from the SIEM and the replica' {
	SIEM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$SIEM_PORT"
	airlock -q audit sink add replica --dir "$PWD/replica"
	notes 20
	# down: not blocked, nothing lost; the replica still gets its copy
	run -4 airlock audit ship
	out_has 'sink siem' 'Connection refused' 'the rest waits in the log'
	audit_failed=$(jq -c 'select(.event == "sink.failed")' "$AIRLOCK_HOME"/audit/audit-*.jsonl)
	[[ $audit_failed == *'"sink":"siem"'* ]]
	[ -d replica ]
	# the lag is a metric (the age of the oldest entry the sink lacks)
	m=$AIRLOCK_HOME/metrics/airlock-ship.prom
	promtool check metrics <"$m"
	grep -q '^airlock_sink_last_result{sink="siem"} 0$' "$m"
	grep -q '^airlock_sink_failures_total{sink="siem"} 1$' "$m"
	grep -Eq '^airlock_sink_lag_entries\{sink="siem"\} [1-9][0-9]*$' "$m"
	grep -Eq '^airlock_sink_oldest_undelivered_timestamp_seconds\{sink="siem"\} 1[0-9.e+]+$' "$m"
	grep -q '^airlock_sink_lag_entries{sink="replica"} 0$' "$m"
	# back: everything since its cursor, in order, including one entry
	# over the message size (8192 bytes), sent in parts
	siem_start
	notes 5
	notes 1 20000
	notes 3
	run -0 airlock --json audit ship
	echo "$output" | jq -e 'all(.[]; .ok)'
	n=$(echo "$output" | jq -r '.[] | select(.sink == "siem") | .delivered')
	[ "$n" = "$(the_log | wc -l)" ]
	grep -q '^airlock_sink_lag_entries{sink="siem"} 0$' "$m"
	grep -q '^airlock_sink_oldest_undelivered_timestamp_seconds{sink="siem"} 0$' "$m"
	siem_wait "$((n + 2))"                      # the big one is 3 messages
	grep -c '^#airlock-part seq=' "$SIEM/raw.log" | grep -qx 3
	grep -q '^<110>1 .* airlock [0-9]* test.note \[airlock@32473 log_id="[0-9a-f]*" seq="[0-9]*"\] {"seq":' "$SIEM/full.log"
	the_log "$n" >expected.jsonl
	# the disk is wiped
	rm -rf "$AIRLOCK_HOME"
	for from in "$SIEM/raw.log" "$SIEM/full.log" replica; do
		rm -rf restored
		run -0 airlock audit restore --from "$from" -o restored
		out_has "entries 1 to $n ($n written)"
		run -0 airlock-verify audit restored --seal-pub seal.pub
		cat restored/audit-*.jsonl | cmp - expected.jsonl
	done
	# all three at once: one copy of each
	rm -rf restored
	run -0 airlock audit restore --from replica --from "$SIEM/full.log" --from "$SIEM/raw.log" -o restored
	cat restored/audit-*.jsonl | cmp - expected.jsonl
}

@test 'a collector that drops the connection mid-stream: the cursor stays; a resend after a lost cursor is kept once' {
	SIEM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# accepts, reads a little, and resets the connection
	python3 -c '
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
open("dropper.ready", "w").close()
while True:
    c, _ = s.accept(); c.recv(2000)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
' "$SIEM_PORT" &
	DROPPER=$!
	for _ in $(seq 100); do [ -e dropper.ready ] && break; sleep 0.05; done
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$SIEM_PORT"
	notes 40 1000
	run -4 airlock audit ship
	out_has 'sink siem' 'delivered up to entry 0'
	[ ! -e "$AIRLOCK_HOME/audit/cursors/siem" ]
	kill "$DROPPER"
	wait "$DROPPER" 2>/dev/null || true
	DROPPER=
	siem_start
	run -0 airlock audit ship siem
	n=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")
	total=$n
	siem_wait "$total"
	# removed and added again, a sink is another place: its cursor goes too
	airlock -q audit sink remove siem
	[ ! -e "$AIRLOCK_HOME/audit/cursors/siem" ]
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$SIEM_PORT"
	run -0 airlock audit ship siem
	n=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")
	total=$((total + n))
	siem_wait "$total"
	# a crash between the send and the cursor: everything again
	rm "$AIRLOCK_HOME/audit/cursors/siem"
	run -0 airlock audit ship siem
	total=$((total + n))
	siem_wait "$total"
	the_log "$n" >expected.jsonl
	run -0 airlock audit restore --from "$SIEM/raw.log" -o restored
	out_has "entries 1 to "
	cat restored/audit-*.jsonl | head -n "$n" | cmp - expected.jsonl
	run -0 airlock-verify audit restored --seal-pub seal.pub
}

@test 'a replica on a full disk: the main log untouched, a sink.failed entry, exit 4; with room, the next ship completes it' {
	[ "$(id -u)" = 0 ] || skip 'needs root to mount a small tmpfs'
	mkdir replica
	mount -t tmpfs -o size=32k tmpfs replica || skip 'cannot mount a tmpfs here'
	airlock -q audit sink add replica --dir "$PWD/replica"
	notes 60 1000
	run -4 airlock audit ship
	out_has 'sink replica' 'No space left on device'
	[ ! -e "$AIRLOCK_HOME/audit/cursors/replica" ]
	run -0 airlock audit verify --seal-pub seal.pub
	jq -s -e '[.[] | select(.event == "sink.failed")] | .[0] | .sink == "replica" and (.reason | contains("No space"))' \
		"$AIRLOCK_HOME"/audit/audit-*.jsonl >/dev/null
	umount replica
	run -0 airlock audit ship
	run -0 airlock-verify audit "replica/$(ls replica)" --seal-pub seal.pub
	n=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/replica")
	cat replica/*/audit-*.jsonl | cmp - <(the_log "$n")
}

@test 'UDP: one datagram a message; the messages restore the log' {
	python3 "$ROOT_DIR/tests/fixtures/syslog_listener.py" received.txt ports &
	listener=$!
	for _ in $(seq 100); do [ -s ports ] && break; sleep 0.05; done
	udp=$(sed -n 's/^udp //p' ports)
	airlock -q audit sink add siem --syslog "udp://127.0.0.1:$udp"
	notes 10
	run -0 airlock audit ship
	n=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")
	for _ in $(seq 100); do [ "$(wc -l <received.txt)" -ge "$n" ] && break; sleep 0.05; done
	kill "$listener"
	sed -n 's/^udp //p' received.txt >messages.txt
	[ "$(wc -l <messages.txt)" = "$n" ]
	run -0 airlock audit restore --from messages.txt -o restored
	cat restored/audit-*.jsonl | cmp - <(the_log "$n")
}

@test 'restore names every gap and every copy that differs (exit 1); it needs a new directory and entries' {
	airlock -q audit sink add replica --dir "$PWD/replica"
	notes 30
	run -0 airlock audit ship
	d=$(ls -d replica/*)
	cat "$d"/audit-*.jsonl >all.jsonl
	# a gap: entries 10 to 12 lost
	sed '10,12d' all.jsonl >gappy.jsonl
	run -1 airlock audit restore --from gappy.jsonl -o r1
	out_has 'entries 10 to 12 are in none of the sources'
	# a copy that differs: the first is kept, the other named
	sed 's/"i":"3",/"i":"999",/' all.jsonl >changed.jsonl
	run -1 airlock audit restore --from all.jsonl --from changed.jsonl -o r2
	out_has 'entry' 'differs between' 'changed.jsonl'
	# a changed entry alone breaks the chain after it
	run -1 airlock audit restore --from changed.jsonl -o r3
	out_has "its prev is not the hash of the line before it"
	run -4 airlock audit restore --from all.jsonl -o r2
	out_has 'it must not exist'
	printf 'nothing\n' >junk.txt
	run -3 airlock audit restore --from junk.txt -o r4
	out_has 'no entry of an airlock log'
	run -2 airlock audit restore -o r5
}

@test 'the alert rule for a lagging sink passes promtool: it fires past 15 minutes, not before' {
	run -0 promtool check rules "$ROOT_DIR/packaging/prometheus/airlock-rules.yml"
	cd "$ROOT_DIR/packaging/prometheus"
	run -0 promtool test rules airlock-rules.test.yml
}

@test 'a run ships as it goes: its entries are on the replica when it ends; a dead SIEM neither stalls nor fails it' {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	airlock -q audit sink add replica --dir "$PWD/replica"
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$port"
	mkdir -p p
	cat >p/airlock.json <<-'JSON'
	{"format": "airlock.manifest/1", "pipeline": "p", "version": 1,
	 "expires": "2099-01-01T00:00:00Z",
	 "steps": [{"id": "a", "run": ["/bin/sh", "-c", "echo a >out.txt"], "outputs": [{"path": "out.txt"}]},
	           {"id": "b", "needs": ["a"], "run": ["/bin/sh", "-c", "echo b >out.txt"], "outputs": [{"path": "out.txt"}]}]}
	JSON
	start=$(date +%s%N)
	run -0 airlock run --unsigned p --date 2026-11-25
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$took" -lt 3000 ]
	out_has 'sink siem' 'the entries wait in the log'
	# the replica has the run, its end and the seal after it
	last=$(the_log | tail -1 | jq -r .seq)
	[ "$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/replica")" = "$last" ]
	cat replica/*/audit-*.jsonl | tail -n 2 | grep -q '"event":"run.end"'
	[ ! -e "$AIRLOCK_HOME/audit/cursors/siem" ]
	# status says how far behind each sink is
	run -0 airlock status
	out_has 'replica' 'up to entry' 'siem' 'behind, the oldest for'
	run -0 airlock --json status
	echo "$output" | jq -e '.sinks | map({(.sink): .}) | add | .replica.behind == 0 and .siem.behind > 0 and (.siem.oldest_undelivered | test("^20")) and .replica.oldest_undelivered == null'
	# the timer's ship records the SIEM's failure
	run -4 airlock audit ship
	jq -e 'select(.event == "sink.failed") | .sink == "siem"' "$AIRLOCK_HOME"/audit/audit-*.jsonl >/dev/null
}

@test "restore of hostile collector files: numbers past range, parts out of order or never ended, brackets never closed, a line too long" {
	airlock -q audit sink add replica --dir "$PWD/replica"
	notes 12
	run -0 airlock audit ship
	cat replica/*/audit-*.jsonl >all.jsonl
	n=$(wc -l <all.jsonl)
	{
		cat all.jsonl
		# numbers that do not fit, or wrap to a valid part or seq
		printf '#airlock-part seq=99999999999999999999999 part=1 end=1 {"x":1}\n'
		printf '#airlock-part seq=3 part=4294967297 end=1 {"x":1}\n'
		printf '#airlock-part seq=3 part=0 end=1 {"x":1}\n'
		printf '#airlock-part seq=3 part=1 end=7 {"x":1}\n'
		printf '#airlock-part seq=%s part=1 end=0 {"seq":\n' "$((n + 1))"
		printf '#airlock-fragment after=18446744073709551616 junk\n'
		# an RFC 5424 line whose structured data never closes, and escapes
		printf '<110>1 2026-01-01T00:00:00Z h airlock 1 x [airlock@32473 a="\\"]\\\\" seq="1"\n'
		printf '<110>1 2026-01-01T00:00:00Z h airlock 1 x [unclosed\n'
		printf '<110>1 - - - - -\n'
		# a line past any entry's size
		head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' a
		printf '\n'
	} >hostile.txt
	run -1 airlock audit restore --from hostile.txt -o restored
	# what was whole is there, byte for byte; the rest is named, not used
	out_has "entry $((n + 1)): its parts are incomplete"
	cat restored/audit-*.jsonl | cmp - all.jsonl
	run -0 airlock-verify audit restored --seal-pub seal.pub
}

@test "over TLS (RFC 5425): the collector's certificate is checked against --ca and the URL's host; entries and anchors arrive" {
	command -v openssl >/dev/null || skip 'no openssl'
	tls_ca tls 127.0.0.1
	tls_ca other 127.0.0.1
	siem_start "$PWD/tls"
	run -2 airlock audit sink add siem --syslog "tls://127.0.0.1:$SIEM_PORT"
	out_has '--ca FILE is needed'
	run -2 airlock audit sink add plain --syslog "tcp://127.0.0.1:$SIEM_PORT" --ca tls/ca.pem
	out_has 'for a tls:// sink'
	airlock -q audit sink add siem --syslog "tls://127.0.0.1:$SIEM_PORT" --ca tls/ca.pem
	jq -e 'select(.event == "sink.added") | .ca | endswith("/tls/ca.pem")' "$AIRLOCK_HOME"/audit/audit-*.jsonl >/dev/null
	notes 10
	notes 1 20000
	run -0 airlock audit ship
	n=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")
	siem_wait "$((n + 2))"
	run -0 airlock audit anchor
	for _ in $(seq 100); do grep -q ' anchor \[airlock@32473 ' "$SIEM/full.log" && break; sleep 0.05; done
	grep -q ' anchor \[airlock@32473 ' "$SIEM/full.log"
	the_log "$n" >expected.jsonl
	run -0 airlock audit restore --from "$SIEM/full.log" -o restored
	cat restored/audit-*.jsonl | head -n "$n" | cmp - expected.jsonl
	run -0 airlock-verify audit restored --seal-pub seal.pub
	# a collector whose certificate another CA signed: refused, nothing moves
	airlock -q audit sink add bad --syslog "tls://127.0.0.1:$SIEM_PORT" --ca other/ca.pem
	run -4 airlock audit ship bad
	out_has 'sink bad' 'certificate'
	[ ! -e "$AIRLOCK_HOME/audit/cursors/bad" ]
	# a certificate from the right CA, for another name: refused
	siem_stop
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=elsewhere.example \
		-keyout tls/server.key -out tls/other.csr 2>/dev/null
	openssl x509 -req -in tls/other.csr -CA tls/ca.pem -CAkey tls/ca.key -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=DNS:elsewhere.example\n') -out tls/server.pem 2>/dev/null
	siem_start "$PWD/tls"
	notes 1
	before=$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")
	run -4 airlock audit ship siem
	out_has 'sink siem' 'certificate'
	[ "$(jq -r .seq "$AIRLOCK_HOME/audit/cursors/siem")" = "$before" ]
}

@test 'past the lag limit: halt refuses runs (exit 4, audited) until the sink catches up; continue runs with an alert' {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	airlock -q audit sink add siem --syslog "tcp://127.0.0.1:$port"
	run -0 airlock audit sink policy
	out_has 'no lag limit'
	run -2 airlock audit sink policy --on-lag explode
	airlock -q audit sink policy --lag-limit 1s --on-lag halt
	jq -e 'select(.event == "sink.policy") | .lag_limit_ms == 1000 and .on_lag == "halt"' \
		"$AIRLOCK_HOME"/audit/audit-*.jsonl >/dev/null
	mkdir -p p
	printf '{"format": "airlock.manifest/1", "pipeline": "p", "version": 1, "expires": "2099-01-01T00:00:00Z", "steps": [{"id": "a", "run": ["/bin/true"]}]}\n' >p/airlock.json
	sleep 1.2
	run -4 airlock run --unsigned p --date 2026-11-25
	out_has 'audit halt' 'sink siem lacks' 'past the lag limit'
	[ "$(jq -c 'select(.event == "run.start")' "$AIRLOCK_HOME"/audit/audit-*.jsonl | wc -l)" = 0 ]
	jq -e 'select(.event == "alert" and .kind == "sink-lagging") | .action == "halt" and .sink == "siem"' \
		"$AIRLOCK_HOME"/audit/audit-*.jsonl >/dev/null
	# the SIEM back and caught up: runs go again
	SIEM_PORT=$port siem_start
	run -0 airlock audit ship
	run -0 airlock run --unsigned p --date 2026-11-25
	# continue: the run goes on, with the alert in its summary
	siem_stop
	airlock -q audit sink policy --on-lag continue
	airlock -q audit append --event test.note
	sleep 1.2
	run -0 airlock run --unsigned p --date 2026-11-26
	out_has 'alert sink-lagging' 'sink siem lacks'
	# the run's summary says how far behind each sink is
	run_id=$(airlock --json runs --limit 1 | jq -r '.[0].run')
	jq -e '.audit.sinks[0] | .sink == "siem" and .behind > 0 and (.oldest_undelivered | test("^20"))' \
		"$AIRLOCK_HOME/runs/$run_id/summary.json" >/dev/null
	jq -e '.alerts | map(.kind) | index("sink-lagging") != null' "$AIRLOCK_HOME/runs/$run_id/summary.json" >/dev/null
	cat "$AIRLOCK_HOME"/audit/audit-*.jsonl | jq -c 'select(.event == "alert" and .kind == "sink-lagging")' >lagging.jsonl
	[ "$(jq -r .action lagging.jsonl | sort | uniq -c | tr -s ' ' | paste -sd,)" = " 1 continue, 1 halt" ]
}
