#!/usr/bin/env bats
# t4600-run-secrets: the secrets pre-flight (DESIGN.md §8,
# runner/README.md "Secrets pre-flight"): checked before any step, each
# check audited without a value, a step given the path, never the value;
# a failure stops every step but the notify ones.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	printf 's3cr3t-value\n' >tok
	chmod 600 tok
	mkdir -p p/bin
	# use: records what it was given, the hash of what it reads there and
	# whether it could write it; tell: the notify step, keeps its stdin
	script p use 'echo "$AIRLOCK_SECRET_API_TOKEN" >"$AIRLOCK_OUT/given"
sha256sum <"$AIRLOCK_SECRET_API_TOKEN" | cut -d" " -f1 >"$AIRLOCK_OUT/read"
if echo x 2>/dev/null >>"$AIRLOCK_SECRET_API_TOKEN"; then echo yes; else echo no; fi >"$AIRLOCK_OUT/wrote"'
	script p tell 'cat >"$AIRLOCK_OUT/summary.json"'
	script p check 'exit 0'
}

# manifest [CHECK_ARGV_JSON]: one step using the secret, a notify step
# after it (without when: always).
manifest() {
	cat >p/airlock.json <<-JSON
	{"format": "airlock.manifest/1", "pipeline": "p", "version": 1, "expires": "2099-01-01T00:00:00Z",
	 "secrets": {"api_token": {"file": "$PWD/tok", "max_age": "1h"${1:+, \"check\": $1}}},
	 "steps": [
	  {"id": "use", "run": ["bin/use"], "secrets": ["api_token"], "outputs": [{"path": "given"}]},
	  {"id": "tell", "kind": "notify", "needs": ["use"], "run": ["bin/tell"]}
	 ]}
	JSON
}

@test "a good secret: checked first, audited without its value, given as a path" {
	manifest '["bin/check"]'
	run -0 airlock run --unsigned p --date $DATE
	[ "$(audit_events '.event == "secret.checked" or .event == "step.start"' | head -1 | jq -r .event)" = secret.checked ]
	audit_events '.event == "secret.checked"' | jq -e '.name == "api_token" and .ok == true and .age_s >= 0'
	# its own copy, in its view: readable by the step's uid (as root, not
	# the owner of the original, which is 0600), not writable
	[ "$(cat "$(out_file use given)")" = /airlock/secrets/api_token ]
	[ "$(cat "$(out_file use read)")" = "$(sha256sum <tok | cut -d' ' -f1)" ]
	[ "$(cat "$(out_file use wrote)")" = no ]
	[ "$(cat tok)" = s3cr3t-value ]
	run ! grep -rq 's3cr3t-value' "$AIRLOCK_HOME/audit" "$AIRLOCK_HOME/outputs"
	# mode 0400 is accepted too
	chmod 400 tok
	run -0 airlock run --unsigned p --date 2026-11-26
}

@test "a symbolic link, a directory, an old file are refused, each named" {
	manifest
	mv tok real && ln -s real tok
	run -1 airlock run --unsigned p --date $DATE
	out_has "secret api_token" "is a symbolic link"
	rm tok && mkdir tok
	run -1 airlock run --unsigned p --date $DATE
	out_has "not a regular file"
	rmdir tok && mv real tok && touch -d '-2 hours' tok
	run -1 airlock run --unsigned p --date $DATE
	# "2h", or in seconds when the run started a second later (a loaded machine)
	[[ $output =~ last\ changed\ (2h|72[0-9][0-9]s)\ ago,\ max_age\ 1h:\ expired ]]
	[ "$(count_events '.event == "step.start" and .step == "use"')" -eq 0 ]
}

@test "a failed check: its output reaches the operator, never the log; the notify step still reports" {
	script p check 'echo "token s3cr3t-value rejected" >&2; exit 3'
	manifest '["bin/check"]'
	run -1 airlock run --unsigned p --date $DATE
	out_has "check bin/check failed (exit 3)" "token s3cr3t-value rejected"
	run ! grep -rq 's3cr3t-value' "$AIRLOCK_HOME/audit"
	audit_events '.event == "step.skipped"' | jq -e '.step == "use" and .reason == "preflight-failed"'
	# tell needs use, which was skipped: it runs anyway, to report
	jq -e '.status == "failed" and (.cause | startswith("secret api_token: check bin/check failed (exit 3)"))' \
		"$AIRLOCK_HOME"/runs/*/logs/tell.1.summary.json
	[ "$(count_events '.event == "notify.sent"')" -eq 1 ]
}

@test "SIGTERM while a check hangs: the check is killed, the run ends interrupted at once" {
	script p check 'exec sleep 987'
	manifest '["bin/check"]'
	airlock run --unsigned p --date $DATE 2>err &
	pid=$!
	sleep 1
	kill -TERM "$pid"
	start=$(date +%s)
	code=0
	wait "$pid" || code=$?
	[ "$code" -eq 130 ]
	[ $(($(date +%s) - start)) -lt 5 ]
	audit_events '.event == "run.end"' | jq -e '.status == "interrupted"'
	# the check's process group is gone
	run ! pgrep -f '^sleep 987$'
}
