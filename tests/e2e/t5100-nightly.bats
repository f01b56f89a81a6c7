#!/usr/bin/env bats
# t5100-nightly: the reference nightly pipeline (examples/nightly,
# DESIGN.md §9) with each of the failures our users meet at 3 AM injected:
# each ends the way the manifest says, leaves an audit log that verifies
# and a summary that names the cause, and a rerun after the fix completes
# only what had not been committed.

load ../lib/common
load ../fixtures/run
load ../fixtures/nightly

setup() {
	common_setup
	nightly_setup
}

teardown() {
	service_stop
}

# started STEP: how many attempts of STEP this home's log has started.
started() {
	count_events ".event == \"step.start\" and .step == \"$1\""
}

@test "a good night: every step ok, rejects quarantined, summary delivered, metrics valid" {
	service ok
	drop 2031-01-01 --rows 100 --bad 3
	nightly 2031-01-01
	[ "$status" -eq 0 ]
	[ "$(count_events '.event == "await.ready"')" -eq 1 ]
	audit_events '.event == "await.ready"' | jq -e '.files | map(.path) == ["_SUCCESS", "positions.csv"]'
	audit_events '.event == "validate.result"' | jq -e '.records == 103 and .accepted == 100 and .rejected == 3 and .limit == "5%"'
	q=$AIRLOCK_HOME/quarantine/nightly-risk/2031-01-01/validate/rejected.jsonl
	[ "$(wc -l <"$q")" -eq 3 ]
	jq -e '.line > 1 and (.reason | length) > 0' "$q" >/dev/null
	[ "$(sha256sum <"$q" | cut -d' ' -f1)" = "$(audit_events '.event == "validate.result"' | jq -r .quarantine.sha256)" ]
	# the secret was checked before the first step, by name, never its value
	run audit_events '.event == "secret.checked"'
	out_has '"name":"ml_token"' '"ok":true'
	out_lacks 'token='
	[ "$(audit_events '.event == "secret.checked" or .event == "step.start"' | head -1 | jq -r .event)" = secret.checked ]
	summary 2031-01-01 | jq -e '.format == "airlock.summary/1" and .status == "ok" and (.steps | length) == 5 and .cause == null'
	summary 2031-01-01 | jq -e '[.steps[] | select(.id == "publish") | .outputs[] | .path] == ["results.csv", "warehouse.db"]'
	[ "$(count_events '.event == "notify.sent"')" -eq 1 ]
	sqlite3 "$(out_file publish warehouse.db 2031-01-01 | sed 's|/p/|/nightly-risk/|')" 'SELECT count(*) FROM scores' | grep -qx 100
	promtool check metrics <"$AIRLOCK_HOME/metrics/airlock.prom"
	grep -q 'airlock_run_last_status{pipeline="nightly-risk"} 0' "$AIRLOCK_HOME/metrics/airlock.prom"
	verified
	# a rerun skips every committed step; the summary is sent again
	nightly 2031-01-01
	[ "$status" -eq 0 ]
	[ "$(count_events '.event == "step.skipped" and .reason == "already-committed"')" -eq 4 ]
	[ "$(started summary)" -eq 2 ]
	[ "$(started score)" -eq 1 ]
}

@test "a flaky service: score is retried on exit 75 and succeeds" {
	service flaky
	drop 2031-01-02
	nightly 2031-01-02
	[ "$status" -eq 0 ]
	[ "$(started score)" -eq 3 ]
	[ "$(count_events '.event == "step.retry" and .step == "score" and .reason == "exit:75"')" -eq 2 ]
	[ "$(count_events '.event == "breaker.open"')" -eq 0 ]
	summary 2031-01-02 | jq -e '.status == "ok" and (.steps[] | select(.id == "score") | .attempts) == 3'
	verified
}

@test "a dead service: the breaker opens after 5 failures, later runs fail fast, a fixed rerun completes the rest" {
	service down
	drop 2031-01-03
	nightly 2031-01-03
	[ "$status" -eq 1 ]
	# five attempts failed, then the sixth was refused by the open breaker
	[ "$(started score)" -eq 5 ]
	audit_events '.event == "breaker.open"' | jq -e '.resource == "ml-api" and .failures == 5'
	audit_events '.event == "alert" and .kind == "breaker-open"' | jq -e '.step == "score"'
	audit_events '.event == "step.blocked"' | jq -e '.resource == "ml-api" and (.reason | startswith("breaker-open"))'
	audit_events '.event == "step.skipped" and .step == "publish"' | jq -e '.reason == "run-aborted"'
	summary 2031-01-03 | jq -e '.status == "failed" and (.cause | contains("breaker-open")) and any(.alerts[]; .kind == "breaker-open")'
	run airlock breaker list
	out_has ml-api open
	grep -q 'airlock_breaker_open{resource="ml-api"} 1' "$AIRLOCK_HOME/metrics/airlock.prom"
	verified
	# within the cooldown, a rerun fails fast: score does not start at all
	service ok
	nightly 2031-01-03
	[ "$status" -eq 1 ]
	[ "$(started score)" -eq 5 ]
	[ "$(count_events '.event == "step.blocked"')" -eq 2 ]
	# the operator closes it by hand (audited), and the rerun completes
	# only what had not been committed
	run airlock breaker reset ml-api
	[ "$status" -eq 0 ]
	audit_events '.event == "breaker.closed"' | jq -e '.reason == "reset" and .user == "root" and .was == "open"'
	nightly 2031-01-03
	[ "$status" -eq 0 ]
	[ "$(started ingest)" -eq 1 ]
	[ "$(started validate)" -eq 1 ]
	[ "$(started score)" -eq 6 ]
	[ "$(started publish)" -eq 1 ]
	summary 2031-01-03 | jq -e '.status == "ok"'
	verified
}

@test "HTTP 200 with an error body: caught by verify, retried, never committed" {
	service error-body
	manifest '.resources["ml-api"].breaker.failures = 3'
	drop 2031-01-04
	nightly 2031-01-04
	[ "$status" -eq 1 ]
	[ "$(started score)" -eq 3 ]
	[ "$(count_events '.event == "step.retry" and .step == "score" and .reason == "verify"')" -eq 3 ]
	audit_events '.event == "step.end" and .step == "score"' | jq -e '.verify.exit == 1' >/dev/null
	[ "$(count_events '.event == "output.committed" and .step == "score"')" -eq 0 ]
	[ ! -e "$AIRLOCK_HOME/outputs/nightly-risk/2031-01-04/score" ]
	summary 2031-01-04 | jq -e '.status == "failed" and (.cause | length) > 0'
	verified
}

@test "a slow service: attempts time out and are retried on timeout" {
	service slow
	manifest '(.steps[] | select(.id == "score") | .timeout) = "1s" | (.steps[] | select(.id == "score") | .retries.max) = 1'
	drop 2031-01-05
	nightly 2031-01-05 --kill-grace 1s
	[ "$status" -eq 1 ]
	[ "$(count_events '.event == "step.end" and .step == "score" and .status == "timeout"')" -eq 2 ]
	[ "$(count_events '.event == "step.retry" and .step == "score" and .reason == "timeout"')" -eq 1 ]
	summary 2031-01-05 | jq -e '.status == "failed" and (.cause | contains("timeout"))'
	verified
}

@test "6% bad rows: validate fails at once, the quarantine lists them, the run stops" {
	service ok
	drop 2031-01-06 --rows 94 --bad 6
	nightly 2031-01-06
	[ "$status" -eq 1 ]
	[ "$(started validate)" -eq 1 ]
	[ "$(started score)" -eq 0 ]
	audit_events '.event == "validate.result"' | jq -e '.records == 100 and .rejected == 6 and .reject_ratio > 0.05'
	audit_events '.event == "alert" and .kind == "reject-threshold"' | jq -e '.step == "validate" and .rejected == 6'
	q=$AIRLOCK_HOME/quarantine/nightly-risk/2031-01-06/validate/rejected.jsonl
	[ "$(jq -s 'map(.line) | length' "$q")" -eq 6 ]
	summary 2031-01-06 | jq -e '.status == "failed" and (.cause | contains("over max_reject 5%")) and any(.alerts[]; .kind == "reject-threshold")'
	verified
	# the producer fixes the file; the rerun takes the new drop? No: the
	# committed ingest is kept (its outputs are intact) - it is forced
	drop 2031-01-06 --rows 100 --bad 2 --seed 7
	nightly 2031-01-06 --from ingest
	[ "$status" -eq 0 ]
	[ "$(started validate)" -eq 2 ]
}

@test "a stale input is refused, loudly, without retries" {
	service ok
	drop 2031-01-07 --age 8
	nightly 2031-01-07
	[ "$status" -eq 1 ]
	[ "$(started ingest)" -eq 1 ]
	audit_events '.event == "step.end" and .step == "ingest"' | jq -e '.reason | contains("stale input refused")'
	[ "$(count_events '.event == "output.committed" and .step == "ingest"')" -eq 0 ]
	summary 2031-01-07 | jq -e '.status == "failed" and (.cause | contains("max_age 6h"))'
	verified
	# the producer delivers again: the rerun takes the fresh drop
	rm -rf "$BASE/drop/2031-01-07"
	drop 2031-01-07
	nightly 2031-01-07
	[ "$status" -eq 0 ]
	[ "$(started ingest)" -eq 2 ]
}

@test "a late input: await times out into on_failure, not retried" {
	manifest '(.steps[] | select(.id == "ingest") | .timeout) = "2s" | (.steps[] | select(.id == "ingest") | .poll.every) = "200ms"'
	nightly 2031-01-08 --kill-grace 1s
	[ "$status" -eq 1 ]
	[ "$(started ingest)" -eq 1 ]
	audit_events '.event == "step.end" and .step == "ingest"' | jq -e '.status == "timeout"'
	summary 2031-01-08 | jq -e '.cause | contains("not ready in time")'
	# the file arrives; the rerun takes it
	drop 2031-01-08
	service ok
	nightly 2031-01-08
	[ "$status" -eq 0 ]
}

@test "an expired token stops the run before any step; the summary says why" {
	service ok
	drop 2031-01-09
	"$STUBS/make-token" "$BASE/secrets/ml_token" --expired >/dev/null 2>&1
	nightly 2031-01-09
	[ "$status" -eq 1 ]
	out_has 'secret ml_token' 'expired'
	audit_events '.event == "secret.checked"' | jq -e '.ok == false and (.reason | contains("check bin/check-token failed (exit 1)"))'
	# what the check printed reaches the operator, never the audit log
	[ "$(count_events '.reason // "" | contains("expired at")')" -eq 0 ]
	# nothing ran but the notify step that reports it
	[ "$(count_events '.event == "step.start" and .step != "summary"')" -eq 0 ]
	[ "$(count_events '.event == "step.skipped" and .reason == "preflight-failed"')" -eq 4 ]
	summary 2031-01-09 | jq -e '.status == "failed" and (.cause | startswith("secret ml_token:"))'
	verified
	# a token file readable by others, or older than max_age, is refused too
	"$STUBS/make-token" "$BASE/secrets/ml_token" >/dev/null 2>&1
	chmod 644 "$BASE/secrets/ml_token"
	nightly 2031-01-09
	[ "$status" -eq 1 ]
	out_has 'mode 0644, must be 0600 or 0400'
	chmod 600 "$BASE/secrets/ml_token"
	touch -d '-30 hours' "$BASE/secrets/ml_token"
	nightly 2031-01-09
	[ "$status" -eq 1 ]
	out_has 'max_age 23h: expired'
	rm "$BASE/secrets/ml_token"
	nightly 2031-01-09
	[ "$status" -eq 1 ]
	out_has 'does not exist'
	# a fresh token: the rerun runs everything
	"$STUBS/make-token" "$BASE/secrets/ml_token" >/dev/null 2>&1
	nightly 2031-01-09
	[ "$status" -eq 0 ]
	verified
}

@test "a secret owned by another user is refused (run as nobody)" {
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[ "$(id -u)" -eq 0 ] || skip "needs root to switch to nobody"
	# every parent searchable by nobody; the token stays root's
	d=$(mktemp -d /tmp/airlock-nobody.XXXXXX)
	chmod 755 "$d"
	mkdir -p "$d/p" "$d/home"
	printf 'token=ab expires=2099-01-01T00:00:00Z\n' >"$d/token"
	chmod 600 "$d/token"
	cat >"$d/p/airlock.json" <<-JSON
	{"format": "airlock.manifest/1", "pipeline": "p", "version": 1, "expires": "2099-01-01T00:00:00Z",
	 "secrets": {"tok": {"file": "$d/token"}},
	 "steps": [{"id": "use", "run": ["/bin/true"], "secrets": ["tok"], "network": "host"}]}
	JSON
	chown -R nobody "$d/home"
	as_nobody() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$d/home" \
			"$(command -v airlock)" "$@"
	}
	as_nobody -q audit init --seal-pub-out "$d/home/k0" 2>/dev/null
	run as_nobody run --unsigned "$d/p" --date 2031-01-10
	rm -rf "$d"
	[ "$status" -eq 1 ]
	out_has "secret tok" "owned by uid 0, not by the user running airlock"
}

@test "an outbox that cannot be written: the summary is retried, then notify.failed" {
	service ok
	drop 2031-01-11
	: >"$BASE/outbox-file"
	manifest '(.steps[] | select(.id == "summary") | .mounts[0].host) = "'"$BASE/outbox-file"'"'
	nightly 2031-01-11
	[ "$status" -eq 1 ]
	# every other step committed; the summary was tried 1 + 2 times
	[ "$(count_events '.event == "output.committed" and .step == "publish"')" -eq 1 ]
	[ "$(started summary)" -eq 3 ]
	[ "$(count_events '.event == "step.retry" and .step == "summary" and .reason == "exit:75"')" -eq 2 ]
	audit_events '.event == "notify.failed"' | jq -e '.step == "summary" and .attempt == 3'
	[ "$(count_events '.event == "notify.sent"')" -eq 0 ]
	verified
}

@test "the stand-ins and scripts of examples/nightly pass their own self-test" {
	run "$TESTS_DIR/fixtures/nightly-selftest.sh"
	echo "$output" | tail -20
	[ "$status" -eq 0 ]
}

@test "score reaches the scoring service only with network: host; without it, its own loopback refuses" {
	service ok
	drop 2031-01-09
	manifest '(.steps[] | select(.id == "score")) |= (del(.network) | .retries.max = 0)'
	nightly 2031-01-09
	[ "$status" -ne 0 ]
	run -0 airlock logs "$(last_run)" score
	out_has "connection refused"
	[ "$(count_events '.event == "step.end" and .step == "score" and .status == "ok"')" -eq 0 ]
	audit_events '.event == "step.start" and .step == "score"' | jq -e '.isolation.confined and .isolation.netns'
	# given the network back, the same night completes
	manifest '(.steps[] | select(.id == "score")) |= (.network = "host")'
	nightly 2031-01-09
	[ "$status" -eq 0 ]
}
