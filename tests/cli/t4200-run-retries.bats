#!/usr/bin/env bats
# t4200-run-retries: retries happen only on the listed conditions, stop
# at max, wait the seeded full-jitter delay of DESIGN.md §8 (checked from
# the audit's delay_ms), and a storm of retries raises an alert and pauses.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
}

# delay KEY N BASE_MS CAP_MS: the documented delay after failed attempt N.
delay() {
	python3 -c 'import hashlib,sys
key,n,base,cap=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
bound=min(cap, base * 2 ** (n - 1))
x=int.from_bytes(hashlib.sha256((key + str(n)).encode()).digest()[:8], "big")
print(x % (bound + 1))' "$@"
}

@test 'retry delays follow the seeded full-jitter formula and stop at max' {
	steps p p '[{"id": "flaky", "run": ["sh", "-c", "exit 75"], "retries": {"max": 3, "base": "100ms", "cap": "300ms"}}]'
	run -1 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event=="step.start"')" = 4 ]
	[ "$(count_events '.event=="step.retry"')" = 3 ]
	key=$(audit_events '.event=="step.start"' | head -1 | jq -r .idempotency_key)
	for n in 1 2 3; do
		want=$(delay "$key" $n 100 300)
		audit_events ".event==\"step.retry\" and .attempt==$((n + 1))" | jq -e --argjson d "$want" '.delay_ms == $d and .reason == "exit:75"'
	done
	# every attempt has the same key
	[ "$(audit_events '.event=="step.start"' | jq -r .idempotency_key | sort -u | wc -l)" = 1 ]
	audit_events '.event=="run.end"' | jq -e '.status == "failed"'
}

@test 'the delay is really waited' {
	steps p p '[{"id": "flaky", "run": ["sh", "-c", "exit 1"], "retries": {"max": 1, "base": "2s", "cap": "2s"}}]'
	run -1 airlock run --unsigned p --date $DATE
	d=$(audit_events '.event=="step.retry"' | jq .delay_ms)
	t1=$(audit_events '.event=="step.end" and .attempt==1' | jq -r .ts)
	t2=$(audit_events '.event=="step.start" and .attempt==2' | jq -r .ts)
	waited=$(python3 -c 'import sys,datetime as d
f=lambda s: d.datetime.strptime(s,"%Y-%m-%dT%H:%M:%S.%fZ")
print(int((f(sys.argv[2])-f(sys.argv[1])).total_seconds()*1000))' "$t1" "$t2")
	[ "$waited" -ge "$d" ]
	[ "$waited" -le $((d + 1000)) ]
}

@test 'only the listed conditions are retried' {
	steps p p '[{"id": "s", "run": ["sh", "-c", "exit 3"], "retries": {"max": 3, "base": "1ms", "cap": "1ms", "on": ["exit:75", "timeout"]}}]'
	run -1 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event=="step.start"')" = 1 ]
	[ "$(count_events '.event=="step.retry"')" = 0 ]
	steps p p '[{"id": "s", "run": ["sh", "-c", "sleep 5"], "timeout": "200ms", "retries": {"max": 1, "base": "1ms", "cap": "1ms", "on": ["timeout"]}}]'
	run -1 airlock run --unsigned p --date $DATE --kill-grace 100ms
	audit_events '.event=="step.retry"' | jq -e '.reason == "timeout"'
	[ "$(count_events '.event=="step.end" and .status=="timeout"')" = 2 ]
}

@test 'a verify command that fails turns success into a retryable failure' {
	steps p p '[{"id": "api", "run": ["sh", "-c", "echo \"{\\\"error\\\": \\\"quota\\\"}\" >body.json"],
	  "verify": ["sh", "-c", "! grep -q error body.json"],
	  "retries": {"max": 1, "base": "1ms", "cap": "1ms", "on": ["verify"]},
	  "outputs": [{"path": "body.json"}]}]'
	run -1 airlock run --unsigned p --date $DATE
	audit_events '.event=="step.end"' | jq -e '.status == "failed" and .verify.exit == 1 and (.reason | startswith("verify"))'
	audit_events '.event=="step.retry"' | jq -e '.reason == "verify"'
	[ "$(count_events '.event=="output.committed"')" = 0 ]
	[ ! -e "$(out_file api body.json)" ]
}

@test 'more than 5 retries within 60 s raise retry-storm and pause the retries' {
	steps p p '[{"id": "storm", "run": ["sh", "-c", "exit 1"], "retries": {"max": 10, "base": "1ms", "cap": "1ms"}}]'
	airlock run --unsigned p --date $DATE 2>err.log &
	pid=$!
	for _ in $(seq 100); do
		[ "$(count_events '.event=="alert"')" -gt 0 ] && break
		sleep 0.1
	done
	audit_events '.event=="alert"' | jq -e '.kind == "retry-storm"'
	audit_events '.event=="step.retry" and .attempt==7' | jq -e '.paused_ms > 50000'
	[ "$(count_events '.event=="step.start"')" = 6 ]
	# SIGTERM ends the paused run: interrupted, audited, exit 130
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 130 ]
	audit_events '.event=="run.end"' | jq -e '.status == "interrupted"'
}
