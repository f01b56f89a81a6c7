#!/usr/bin/env bats
# t4500-run-breakers: circuit breakers per resource (DESIGN.md §8,
# runner/README.md "Circuit breakers"): opened after `failures`
# consecutive failures, kept in state.db across runs, fail-fast while open
# (step.blocked, not an attempt), one probe when half-open, closed by a
# success or by `airlock breaker reset` (audited).

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	# bin/call fails while ./ctl/fail exists (the step sees /airlock/mnt/ctl)
	script p call "[ -e /airlock/mnt/ctl/fail ] && { echo 'service down' >&2; exit 75; }; echo ok >\"\$AIRLOCK_OUT/r.txt\""
	mount=$(ctl_mount ro)
	cat >p/airlock.json <<-JSON
	{"format": "airlock.manifest/1", "pipeline": "p", "version": 1, "expires": "2099-01-01T00:00:00Z",
	 "resources": {"svc": {"breaker": {"failures": 2, "cooldown": "1s"}}},
	 "steps": [
	  {"id": "a", "run": ["bin/call"], "resource": "svc", "network": "host", "retries": {"max": 3, "base": "10ms", "cap": "20ms"}, $mount},
	  {"id": "b", "needs": ["a"], "when": "always", "run": ["bin/call"], "resource": "svc", "network": "host", "on_failure": "skip", $mount}
	 ]}
	JSON
}

@test "two failures open the breaker; the next attempt and later steps fail fast" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event == "step.start" and .step == "a"')" -eq 2 ]
	audit_events '.event == "breaker.open"' | jq -e '.resource == "svc" and .failures == 2 and .step == "a"'
	audit_events '.event == "alert"' | jq -se 'map(.kind) | index("breaker-open") != null'
	# a's third attempt was refused, not started; so was b, later
	audit_events '.event == "step.blocked" and .step == "a"' | jq -e '.reason | startswith("breaker-open: resource svc is open until")'
	audit_events '.event == "step.blocked" and .step == "b"' | jq -e '.resource == "svc"'
	[ "$(count_events '.event == "step.start" and .step == "b"')" -eq 0 ]
	out_has "breaker-open"
	run -0 airlock --json breaker list
	echo "$output" | jq -e 'select(.resource == "svc") | .state == "open" and .failures == 2'
	airlock audit verify --seal-pub seal.pub
}

@test "within the cooldown the next run fails fast; after it, one probe closes the breaker" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	rm ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	# no new attempt while open
	[ "$(count_events '.event == "step.start"')" -eq 2 ]
	sleep 1.1
	run -0 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event == "breaker.half_open"')" -eq 1 ]
	audit_events '.event == "breaker.closed"' | jq -e '.resource == "svc" and .step == "a"'
	# a and b ran: the first was the probe, the second found it closed
	[ "$(count_events '.event == "step.end" and .status == "ok"')" -eq 2 ]
	run -0 airlock breaker list
	out_has svc closed
}

@test "a failed probe opens the breaker again for another cooldown" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	sleep 1.1
	run -1 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event == "breaker.half_open"')" -eq 1 ]
	[ "$(count_events '.event == "breaker.open"')" -eq 2 ]
	# the probe was one attempt; the retry after it was blocked
	[ "$(count_events '.event == "step.start"')" -eq 3 ]
}

@test "breaker reset closes it by hand, audited with the operator" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	run -2 airlock breaker reset nosuch
	out_has "no breaker named nosuch"
	run -0 airlock breaker reset svc
	audit_events '.event == "breaker.closed"' | jq -e '.reason == "reset" and .was == "open" and .failures == 2 and .user == "root" and .uid == 0'
	rm ctl/fail
	run -0 airlock run --unsigned p --date $DATE
	run -2 airlock breaker frob
	run -2 airlock breaker
	run -2 airlock breaker reset
}

@test "the metrics show the breaker and pass promtool" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	grep -qx 'airlock_breaker_open{resource="svc"} 1' "$AIRLOCK_HOME/metrics/airlock.prom"
	grep -qx 'airlock_step_failures_total{pipeline="p",step="a"} 2' "$AIRLOCK_HOME/metrics/airlock.prom"
	grep -q '^airlock_alerts_total{pipeline="p",kind="breaker-open"} 1$' "$AIRLOCK_HOME/metrics/airlock.prom"
	promtool check metrics <"$AIRLOCK_HOME/metrics/airlock.prom"
}

@test "half-open: one probe at a time, the other step of the resource waits for its verdict" {
	touch ctl/fail
	run -1 airlock run --unsigned p --date $DATE
	rm ctl/fail
	# two independent steps of the resource, two jobs
	jq '.steps = [{"id": "x", "run": ["bin/call"], "resource": "svc", "network": "host"}, {"id": "y", "run": ["bin/call"], "resource": "svc", "network": "host"}]' p/airlock.json >m && mv m p/airlock.json
	sleep 1.1
	run -0 airlock run --unsigned p --date $DATE --jobs 2
	events=$(audit_events '.event == "step.start" or .event == "step.end"' | jq -r 'select(.run != null) | "\(.event) \(.step)"' | tail -4)
	# the probe started and ended before the other started
	[ "$(sed -n 2p <<<"$events" | cut -d' ' -f1)" = step.end ]
	[ "$(count_events '.event == "breaker.half_open"')" -eq 1 ]
	[ "$(count_events '.event == "breaker.closed"')" -eq 1 ]
}
