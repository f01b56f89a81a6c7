#!/usr/bin/env bats
# t4300-run-failure: on_failure abort, skip and alert; when: always; the
# rule that a skip-on-failure step may not have three or more dependants;
# --jobs.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
}

# dag POLICY: bad fails with on_failure POLICY; dep needs it; other is
# independent (and slow enough to still be pending or running); last
# runs always.
dag() {
	steps p p "[
	  {\"id\": \"bad\", \"run\": [\"sh\", \"-c\", \"exit 9\"], \"on_failure\": \"$1\", \"retries\": {\"max\": 0}},
	  {\"id\": \"dep\", \"needs\": [\"bad\"], \"run\": [\"true\"]},
	  {\"id\": \"other\", \"run\": [\"true\"]},
	  {\"id\": \"last\", \"needs\": [\"dep\", \"other\"], \"when\": \"always\", \"run\": [\"true\"]}
	]"
}

state_of() {
	airlock --json status | jq -r --arg s "$1" '.steps[] | select(.step == $s) | .state + " " + .reason'
}

@test 'abort: no new step starts, except when: always; the run fails' {
	dag abort
	run -1 airlock run --unsigned p --date $DATE
	[ "$(state_of dep)" = "skipped run-aborted" ]
	[ "$(state_of other)" = "skipped run-aborted" ]
	[ "$(state_of last)" = "ok " ]
	audit_events '.event=="run.end"' | jq -e '.status == "failed" and .steps.failed == 1 and .steps.skipped == 2'
}

@test 'skip: dependants are skipped upstream-failed, the rest runs, the run is ok' {
	dag skip
	run -0 airlock run --unsigned p --date $DATE
	[ "$(state_of dep)" = "skipped upstream-failed" ]
	[ "$(state_of other)" = "ok " ]
	[ "$(state_of last)" = "ok " ]
	audit_events '.event=="step.skipped" and .step=="bad"' | jq -e '.reason == "on-failure-skip"'
	audit_events '.event=="step.skipped" and .step=="dep"' | jq -e '.reason == "upstream-failed"'
	[ "$(count_events '.event=="alert"')" = 0 ]
}

@test 'alert: like skip, plus an alert entry and a failed run' {
	dag alert
	run -1 airlock run --unsigned p --date $DATE
	[ "$(state_of dep)" = "skipped upstream-failed" ]
	[ "$(state_of other)" = "ok " ]
	audit_events '.event=="alert"' | jq -e '.kind == "step-failed" and .step == "bad" and (.message | contains("exit:9"))'
	audit_events '.event=="run.end"' | jq -e '.status == "failed"'
}

@test 'a step that three steps depend on may not skip on failure' {
	steps p p '[
	  {"id": "root", "run": ["true"], "on_failure": "skip"},
	  {"id": "x", "needs": ["root"], "run": ["true"]},
	  {"id": "y", "needs": ["x"], "run": ["true"]},
	  {"id": "z", "needs": ["y"], "run": ["true"]}
	]'
	run -2 airlock run --unsigned p --date $DATE
	out_has "root"
	[ "$(count_events '.event=="run.start"')" = 0 ]
	# two dependants are allowed
	steps p p '[
	  {"id": "root", "run": ["true"], "on_failure": "skip"},
	  {"id": "x", "needs": ["root"], "run": ["true"]},
	  {"id": "y", "needs": ["x"], "run": ["true"]}
	]'
	run -0 airlock run --unsigned p --date $DATE
}

@test '--jobs runs independent steps at once, never more' {
	steps p p '[
	  {"id": "s1", "run": ["sh", "-c", "sleep 0.5"]},
	  {"id": "s2", "run": ["sh", "-c", "sleep 0.5"]},
	  {"id": "s3", "run": ["sh", "-c", "sleep 0.5"]},
	  {"id": "s4", "run": ["sh", "-c", "sleep 0.5"]}
	]'
	start=$(date +%s%N)
	run -0 airlock run --unsigned p --date $DATE --jobs 2
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$ms" -lt 1900 ]
	# never more than 2 running: replay starts and ends in log order
	max=$(audit_events '.event=="step.start" or .event=="step.end"' | jq -rs 'reduce .[] as $e ({n:0,m:0}; .n += (if $e.event=="step.start" then 1 else -1 end) | .m = ([.m,.n]|max)) | .m')
	[ "$max" = 2 ]
}
