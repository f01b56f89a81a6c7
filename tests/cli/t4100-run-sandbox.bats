#!/usr/bin/env bats
# t4100-run-sandbox: what a step sees (DESIGN.md §8, "Executing a step"):
# a clean environment, no network under network: none, its own session,
# no other fds, limits, capped output, and a timeout that kills the whole
# process group.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
}

# one NAME JSON-FIELDS: a one-step pipeline p whose step NAME has FIELDS.
one() {
	steps p p "[{\"id\": \"$1\", $2}]"
}

@test "a step sees only the variables airlock gives it, never airlock's own" {
	one env '"run": ["sh", "-c", "env | sort >env.txt"], "env": {"GREETING": "hi"}, "outputs": [{"path": "env.txt"}]'
	SECRET_OF_AIRLOCK=leak LD_PRELOAD='' run -0 airlock run --unsigned p --date $DATE
	f=$(out_file env env.txt)
	run -1 grep -E 'SECRET_OF_AIRLOCK|AIRLOCK_HOME' "$f"
	grep -qx 'GREETING=hi' "$f"
	grep -qx 'TZ=UTC' "$f"
	grep -qx 'LC_ALL=C' "$f"
	grep -qx "AIRLOCK_DATE=$DATE" "$f"
	grep -qx 'AIRLOCK_ATTEMPT=1' "$f"
	# the paths of its view (QUEUE.md, "The in-step view")
	grep -qx "PATH=/airlock/bundle/bin:/usr/bin:/bin" "$f"
	grep -qx "HOME=/airlock/out" "$f"
	grep -qx "AIRLOCK_OUT=/airlock/out" "$f"
	# nothing else: the documented variables, the manifest's, and what sh sets itself
	run grep -vE '^(GREETING|TZ|LC_ALL|PATH|HOME|AIRLOCK_(RUN_ID|STEP|ATTEMPT|IDEMPOTENCY_KEY|DATE|OUT)|PWD|SHLVL|_|OLDPWD)=' "$f"
	[ -z "$output" ]
}

@test "network: none cannot reach the host's 127.0.0.1; network: host can" {
	python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >port &
	listener=$!
	for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
	port=$(cat port)
	script p probe "exec python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", int(sys.argv[1])), 2)' \"\$1\""
	one net "\"run\": [\"bin/probe\", \"$port\"], \"retries\": {\"max\": 0}"
	run -1 airlock run --unsigned p --date $DATE
	run -0 airlock logs "$(airlock --json status | jq -r .run)" net
	# its own loopback, where nothing listens
	out_has "Connection refused"
	one net "\"run\": [\"bin/probe\", \"$port\"], \"network\": \"host\""
	run -0 airlock run --unsigned p --date 2026-11-26
	kill "$listener"
}

@test 'network: none works for an unprivileged user too (user namespace)' {
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[ "$(id -u)" = 0 ] || skip "needs root to switch to nobody"
	# a home that nobody can reach: every parent directory searchable
	d=$(mktemp -d /tmp/airlock-nobody.XXXXXX)
	chmod 755 "$d"
	mv "$AIRLOCK_HOME" "$d/home"
	export AIRLOCK_HOME=$d/home
	steps "$d/p" p '[{"id": "net", "run": ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" >ifaces"], "outputs": [{"path": "ifaces"}]}]'
	chown -R nobody "$d"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$AIRLOCK_HOME" "$(command -v airlock)" run --unsigned "$d/p" --date $DATE
	echo "$output"
	if [ "$status" -ne 0 ] && [[ $output == *"user namespace"* || $output == *"network namespace"* ]]; then
		# the kernel forbids unprivileged user namespaces: a clear refusal
		out_has "--allow-network"
		rm -rf "$d"
		skip "unprivileged user namespaces are disabled here"
	fi
	[ "$status" -eq 0 ]
	audit_events '.event=="run.start"' | jq -e '.uid != 0'
	[ "$(cat "$(out_file net ifaces)")" = lo ]
	rm -rf "$d"
}

@test 'the step has its own session, no new privileges, /dev/null stdin and no inherited fds' {
	one proc '"run": ["sh", "-c", "ps -o pid=,sid= -p $$ >sess; grep NoNewPrivs /proc/self/status >nnp; cat >stdin; ls /proc/self/fd >fds"], "outputs": [{"path": "sess"}]'
	run -0 airlock run --unsigned p --date $DATE 3>/dev/null 7>/dev/null
	read -r pid sid <"$(out_file proc sess)"
	[ "$pid" = "$sid" ]
	[ "$(tr -d ' \t' <"$(out_file proc nnp)")" = NoNewPrivs:1 ]
	[ ! -s "$(out_file proc stdin)" ]
	# 0 1 2, and the directory ls reads
	[ "$(wc -l <"$(out_file proc fds)")" = 4 ]
}

@test 'limits become rlimits' {
	one lim '"run": ["sh", "-c", "ulimit -n >files; ulimit -v >mem"], "limits": {"files": 64, "memory": "512M"}, "outputs": [{"path": "files"}]'
	run -0 airlock run --unsigned p --date $DATE
	[ "$(cat "$(out_file lim files)")" = 64 ]
	[ "$(cat "$(out_file lim mem)")" = $((512 * 1024)) ]
}

@test 'a grandchild that ignores SIGTERM is killed at the timeout' {
	one slow '"run": ["sh", "-c", "sh -c '\''trap \"\" TERM; exec sleep 300.4100'\'' & sleep 300"], "timeout": "1s", "retries": {"max": 0}'
	start=$(date +%s)
	run -1 airlock run --unsigned p --date $DATE --kill-grace 1s
	[ $(( $(date +%s) - start )) -lt 10 ]
	audit_events '.event=="step.end"' | jq -e '.status == "timeout" and .signal == 15 and .exit == 143'
	# gone: its PID namespace ended with the step
	run ! pgrep -f 'sleep 300.4100'
}

@test 'a step writing 1 GiB to stdout is capped at 16 MiB, hashed, and the run goes on' {
	steps p p '[{"id": "loud", "run": ["sh", "-c", "head -c 1073741824 /dev/zero"]},
	            {"id": "next", "needs": ["loud"], "run": ["true"]}]'
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="step.end" and .step=="loud"' | jq -e '.stdout.size == 16777216 and .stdout.truncated == true and .stdout.written == 1073741824 and .status == "ok"'
	id=$(airlock --json status | jq -r .run)
	log=$AIRLOCK_HOME/runs/$id/logs/loud.1.out
	[ "$(stat -c %s "$log")" = 16777216 ]
	sum=$(sha256sum "$log" | cut -d' ' -f1)
	audit_events '.event=="step.end" and .step=="loud"' | jq -e --arg s "$sum" '.stdout.sha256 == $s'
	audit_events '.event=="step.end" and .step=="next"' | jq -e '.status == "ok"'
}

@test 'exit status is reported as shells do' {
	steps p p '[{"id": "killed", "run": ["sh", "-c", "kill -KILL $$"], "on_failure": "skip", "retries": {"max": 0}},
	            {"id": "three", "run": ["sh", "-c", "exit 3"], "on_failure": "skip", "retries": {"max": 0}},
	            {"id": "missing", "run": ["no-such-program"], "on_failure": "skip", "retries": {"max": 0}}]'
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="step.end" and .step=="killed"' | jq -e '.exit == 137 and .signal == 9 and .status == "killed"'
	audit_events '.event=="step.end" and .step=="three"' | jq -e '.exit == 3 and .signal == null and .status == "failed"'
	audit_events '.event=="step.end" and .step=="missing"' | jq -e '.exit == 127 and (.error | contains("cannot execute"))'
}

@test 'signals airlock inherited ignored are not ignored in the step' {
	one sig '"run": ["sh", "-c", "grep -E \"^Sig(Ign|Blk)\" /proc/self/status >sig"], "outputs": [{"path": "sig"}]'
	# (make leaves glibc's reserved signals 32 and 33 ignored, too)
	(trap '' INT QUIT TERM PIPE; airlock run --unsigned p --date $DATE)
	cat "$(out_file sig sig)"
	grep -qx 'SigBlk:.0000000000000000' "$(out_file sig sig)"
	grep -qx 'SigIgn:.0000000000000000' "$(out_file sig sig)"
}
