#!/usr/bin/env bats
# t4400-run-crash: the lock, signals, kill -9 and resume, and a full or
# failing audit log: no step ever starts unaudited.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	# the slow step says it started in ./ctl (its /airlock/mnt/ctl)
	mount=$(ctl_mount)
	steps p p '[
	  {"id": "a", "run": ["sh", "-c", "echo a >a.txt"], "outputs": [{"path": "a.txt"}]},
	  {"id": "slow", "needs": ["a"], "run": ["sh", "-c", "sleep 30.4400 & touch /airlock/mnt/ctl/slow.started; wait; echo s >s.txt"], "outputs": [{"path": "s.txt"}], '"$mount"'},
	  {"id": "c", "needs": ["slow"], "run": ["sh", "-c", "echo c >c.txt"], "outputs": [{"path": "c.txt"}]}
	]'
}

# unconfined_slow: the slow step as on a host that cannot confine steps
# (--unconfined-for-benchmarks): it writes its sleep's pid in ./ctl.
unconfined_slow() {
	steps p p '[
	  {"id": "a", "run": ["sh", "-c", "echo a >a.txt"], "outputs": [{"path": "a.txt"}]},
	  {"id": "slow", "needs": ["a"], "run": ["sh", "-c", "sleep 30.4400 & echo $! >'"$PWD"'/ctl/sleep.pid; touch '"$PWD"'/ctl/slow.started; wait; echo s >s.txt"], "outputs": [{"path": "s.txt"}]},
	  {"id": "c", "needs": ["slow"], "run": ["sh", "-c", "echo c >c.txt"], "outputs": [{"path": "c.txt"}]}
	]'
}

# killed_run: a run killed with SIGKILL while its slow step runs; its id
# in $old.
killed_run() {
	airlock run --unsigned p --date $DATE "$@" 2>/dev/null &
	local pid=$!
	wait_for ctl/slow.started
	old=$(airlock --json runs | jq -r '.[0].run')
	kill -KILL "$pid"
	wait "$pid" || true
}

wait_for() {
	for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	return 1
}

@test 'a second run of the same pipeline exits 75 naming the holder' {
	airlock run --unsigned p --date $DATE 2>/dev/null &
	pid=$!
	wait_for ctl/slow.started
	run -75 airlock run --unsigned p --date $DATE
	id=$(airlock --json runs | jq -r '.[0].run')
	out_has "running already" "pid $pid" "run $id"
	kill -KILL "$pid"
	wait "$pid" || true
}

@test 'kill -9 mid-run: the confined step dies with airlock; the next run records it, resumes' {
	killed_run
	run -0 airlock status "$old"
	out_has "interrupted (not yet recorded)"
	# the step's init died with airlock (PR_SET_PDEATHSIG): its PID
	# namespace, the sleep its shell left included, went with it
	for _ in $(seq 50); do pgrep -f 'sleep 30.4400' >/dev/null || break; sleep 0.1; done
	run ! pgrep -f 'sleep 30.4400'
	rm ctl/slow.started
	airlock run --unsigned p --date $DATE --kill-grace 100ms 2>next.err &
	next=$!
	wait_for ctl/slow.started
	audit_events '.event=="run.end"' | jq -e --arg o "$old" '.run == $o and .status == "interrupted" and .recorded_by != null'
	audit_events '.event=="run.start"' | tail -1 | jq -e --arg o "$old" '.resume_of == $o'
	audit_events '.event=="run.end"' | jq -e --arg o "$old" 'select(.run == $o) | .killed_leftovers == 0'
	kill -TERM "$next"
	wait "$next" || true
}

@test 'kill -9 mid-run of an unconfined step: the next run kills its leftovers, resumes' {
	unconfined_slow
	killed_run --unconfined-for-benchmarks
	# the step's shell died with airlock (PR_SET_PDEATHSIG); its sleep lives on
	leftover=$(cat ctl/sleep.pid)
	kill -0 "$leftover"
	rm ctl/slow.started
	airlock run --unsigned p --date $DATE --kill-grace 100ms --unconfined-for-benchmarks 2>next.err &
	next=$!
	wait_for ctl/slow.started
	audit_events '.event=="run.end"' | jq -e --arg o "$old" '.run == $o and .status == "interrupted" and .recorded_by != null'
	audit_events '.event=="run.start"' | tail -1 | jq -e --arg o "$old" '.resume_of == $o'
	# the old attempt's leftover was killed (gone, or a zombie of init's)
	[ ! -e /proc/"$leftover" ] || grep -q '^State:.*Z' /proc/"$leftover"/status
	audit_events '.event=="run.end"' | jq -e --arg o "$old" 'select(.run == $o) | .killed_leftovers == 1' 
	kill -TERM "$next"
	wait "$next" || true
}

@test 'airlock resume RUN resumes an interrupted run with the same manifest and date' {
	killed_run
	airlock resume "$old" --kill-grace 100ms 2>resume.err &
	rpid=$!
	rm -f ctl/slow.started
	wait_for ctl/slow.started
	audit_events '.event=="run.end" and .status=="interrupted"' | jq -e --arg o "$old" '.run == $o'
	audit_events '.event=="run.start"' | tail -1 | jq -e --arg o "$old" '.resume_of == $o'
	# a was committed by the old run: not run again
	[ "$(count_events '.event=="step.start" and .step=="a"')" = 1 ]
	# the slow step runs again with the same idempotency key
	[ "$(audit_events '.event=="step.start" and .step=="slow"' | jq -r .idempotency_key | sort -u | wc -l)" = 1 ]
	kill -TERM "$rpid"
	rc=0
	wait "$rpid" || rc=$?
	[ "$rc" = 130 ]
	audit_events '.event=="step.end" and .step=="slow"' | tail -1 | jq -e '.signal == 15'
	audit_events '.event=="run.end"' | tail -1 | jq -e '.status == "interrupted"'
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'SIGTERM to airlock is forwarded to the running step; the run ends interrupted' {
	airlock run --unsigned p --date $DATE 2>/dev/null &
	pid=$!
	wait_for ctl/slow.started
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 130 ]
	audit_events '.event=="step.end" and .step=="slow"' | jq -e '.status == "killed" and .signal == 15'
	audit_events '.event=="run.end"' | jq -e '.status == "interrupted"'
	[ "$(count_events '.event=="step.start" and .step=="c"')" = 0 ]
}

@test 'the audit log failing: no step starts, exit 4, nothing unaudited' {
	# the 3rd fdatasync is step a's step.start (log.resume, run.start, step.start)
	AIRLOCK_FAULTS='fdatasync@3+=ENOSPC' run -4 airlock run --unsigned p --date $DATE
	out_has "audit log cannot be written"
	[ ! -e "$(out_file a a.txt)" ]
	for d in home/runs/*/stage/a; do
		[ ! -d "$d" ] || [ -z "$(ls "$d")" ]
	done
	[ "$(count_events '.event=="step.start"')" = 0 ]
	# once the log can be written, the next run records it and runs
	sed -i 's/sleep 30.4400/sleep 0/' p/airlock.json
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'the audit log failing mid-run: the running step finishes, nothing new starts' {
	steps p p '[
	  {"id": "a", "run": ["sh", "-c", "echo a >a.txt"], "outputs": [{"path": "a.txt"}]},
	  {"id": "b", "needs": ["a"], "run": ["sh", "-c", "touch /airlock/mnt/ctl/b.ran"], '"$mount"'}
	]'
	# fdatasyncs: log.resume, run.start, a step.start, output.staged, b step.start
	AIRLOCK_FAULTS='fdatasync@5+=EIO' run -4 airlock run --unsigned p --date $DATE
	[ -f "$(out_file a a.txt)" ]
	[ ! -e ctl/b.ran ]
	[ "$(count_events '.event=="step.start"')" = 1 ]
	# the halt, which the log could not say, is said where people look:
	# the operator log, the run's summary, the metrics
	out_has "run stopped: the audit log cannot be written" "alert audit-halt"
	sum=$(ls home/runs/*/summary.json)
	jq -e '.status == "halted" and (.alerts | map(select(.kind == "audit-halt" and .seq == null)) | length == 1)' "$sum"
	grep -q '^airlock_alerts_total{pipeline="p",kind="audit-halt"} 1$' home/metrics/airlock.prom
	# the next run, once the log can be written, records it as interrupted
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="run.end"' | head -1 | jq -e '.status == "interrupted"'
}

@test 'audit-space-low during a run: in the log, the run summary, the metrics and stderr' {
	rm -rf home seal.pub
	mkhome --audit-min-free 100%
	sed -i 's/sleep 30.4400/sleep 0/' p/airlock.json
	run -0 airlock run --unsigned p --date $DATE
	out_has "alert audit-space-low"
	[ "$(count_events '.event=="alert" and .kind=="audit-space-low"')" = 1 ]
	sum=$(ls home/runs/*/summary.json)
	seq=$(audit_events '.event=="alert" and .kind=="audit-space-low"' | jq .seq)
	jq -e --argjson s "$seq" '.status == "ok" and (.alerts | map(select(.kind == "audit-space-low" and .seq == $s)) | length == 1)' "$sum"
	grep -q '^airlock_alerts_total{pipeline="p",kind="audit-space-low"} 1$' home/metrics/airlock.prom
}

@test 'a full audit file system: exit 4, and no step without its step.start' {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	steps p p '[
	  {"id": "a", "run": ["sh", "-c", "echo a >a.txt; touch /airlock/mnt/ctl/a.ran"], "outputs": [{"path": "a.txt"}], '"$mount"'},
	  {"id": "b", "needs": ["a"], "run": ["sh", "-c", "touch /airlock/mnt/ctl/b.ran"], '"$mount"'},
	  {"id": "c", "needs": ["b"], "run": ["sh", "-c", "touch /airlock/mnt/ctl/c.ran"], '"$mount"'}
	]'
	cp -a home/audit saved
	# room for the rest of the run once the filler is gone (its index included)
	mount -t tmpfs -o size=256k tmpfs home/audit || skip "cannot mount a tmpfs here"
	cp -a saved/. home/audit/
	# full: only the slack of the segment's last page is left
	dd if=/dev/zero of=home/audit/filler bs=4k count=100 2>/dev/null || true
	run -4 airlock run --unsigned p --date $DATE
	out_has "audit log cannot be written"
	for s in a b c; do
		if [ -e ctl/$s.ran ]; then
			[ "$(count_events ".event==\"step.start\" and .step==\"$s\"")" = 1 ]
		fi
	done
	[ ! -e ctl/c.ran ]
	rm -f home/audit/filler
	run -0 airlock audit verify
	run -0 airlock run --unsigned p --date $DATE
	[ -e ctl/c.ran ]
}

teardown() {
	pkill -KILL -f "^sleep 30.4400$" || true
	if mountpoint -q home/audit 2>/dev/null; then
		umount home/audit
	fi
}

@test 'a damaged state.db stops the run before anything starts, named' {
	printf 'garbage that is not sqlite, and long enough to have a header.........' >home/state.db
	run -4 airlock run --unsigned p --date $DATE
	out_has "state.db"
	[ "$(count_events '.event=="run.start"')" = 0 ]
	run -4 airlock status
	out_has "state.db"
}
