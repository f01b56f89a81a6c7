#!/usr/bin/env bats
# t4000-run-basic: airlock run of a directory, a bundle and an installed
# pipeline; outputs promoted and audited; idempotent reruns; phantom
# state; --force, --from, --only, --dry-run; status, runs and logs.

load ../lib/common
load ../fixtures/run
load ../fixtures/bundle

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	steps p p '[
	  {"id": "a", "run": ["bin/a"], "outputs": [{"path": "out.txt", "min_bytes": 1}]},
	  {"id": "b", "needs": ["a"], "run": ["bin/b", "a:out.txt"], "outputs": [{"path": "n.txt"}]}
	]'
	script p a 'echo hello >out.txt; echo "a ran" >&2'
	script p b 'wc -c <"$1" >n.txt; echo "b read $1"'
}

@test 'a directory runs only with --unsigned, and the run says so' {
	run -2 airlock run p --date $DATE
	out_has "unsigned" "--unsigned"
	[ "$(count_events '.event=="run.start"')" = 0 ]
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="run.start"' | jq -e '.unsigned == true and .source == "dir" and .date == "2026-11-25"'
	audit_events '.event=="run.start"' | jq -e '.clock | has("synced") and has("maxerror_us")'
}

@test 'outputs are promoted, hashed and audited in order' {
	run -0 airlock run --unsigned p --date $DATE
	[ "$(cat "$(out_file a out.txt)")" = hello ]
	[ "$(tr -d ' ' <"$(out_file b n.txt)")" = 6 ]
	# the order of the evidence for step a
	run -0 jq -r 'select(.step=="a") | .event' "$(seg 1)"
	[ "$output" = "$(printf 'step.start\nstep.end\noutput.staged\noutput.committed')" ]
	sum=$(sha256sum "$(out_file a out.txt)" | cut -d' ' -f1)
	audit_events '.event=="output.committed" and .step=="a"' | jq -e --arg s "$sum" '.files[0].sha256 == $s and .files[0].path == "out.txt"'
	# b's input is a's committed output, with its hash
	audit_events '.event=="step.start" and .step=="b"' | jq -e --arg s "$sum" '.inputs[0].sha256 == $s'
	audit_events '.event=="run.end"' | jq -e '.status == "ok" and .steps.ok == 2'
	# the run ends with a seal, and the log verifies with the seal public key
	run -0 jq -r '.event' "$(seg 1)"
	[ "${lines[-1]}" = seal ]
	run -0 airlock audit verify --seal-pub seal.pub --strict
}

@test 'a rerun of the same date skips committed steps; another date runs' {
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock run --unsigned p --date $DATE
	[ "$(count_events '.event=="step.start"')" = 2 ]
	[ "$(count_events '.event=="step.skipped" and .reason=="already-committed"')" = 2 ]
	run -0 airlock run --unsigned p --date 2026-11-26
	[ "$(count_events '.event=="step.start"')" = 4 ]
}

@test 'a changed or deleted committed output is phantom state: the step runs again, audited' {
	run -0 airlock run --unsigned p --date $DATE
	echo tampered >"$(out_file a out.txt)"
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="output.phantom"' | jq -e '.step == "a" and .files[0].found != .files[0].expected'
	audit_events '.event=="step.start" and .step=="a"' | tail -1 | jq -e '.rerun_reason | startswith("phantom")'
	[ "$(cat "$(out_file a out.txt)")" = hello ]
	rm "$(out_file b n.txt)"
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event=="output.phantom" and .step=="b"' | jq -e '.files[0].found == null'
	[ -f "$(out_file b n.txt)" ]
}

@test '--force reruns a step; --from reruns it and its dependants; --only selects' {
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock run --unsigned p --date $DATE --force a
	[ "$(count_events '.event=="step.start" and .step=="a"')" = 2 ]
	# a wrote the same bytes: b's inputs did not change
	[ "$(count_events '.event=="step.start" and .step=="b"')" = 1 ]
	run -0 airlock run --unsigned p --date $DATE --from a
	[ "$(count_events '.event=="step.start" and .step=="b"')" = 2 ]
	run -0 airlock run --unsigned p --date 2026-11-27 --only a
	audit_events '.event=="step.skipped" and .reason=="not-selected"' | jq -e '.step == "b"'
	# --only b for a date where a has no commit: b cannot run, and says why
	run -1 airlock run --unsigned p --date 2026-11-28 --only b
	out_has "needs a, which is not selected"
	run -2 airlock run --unsigned p --date $DATE --force nosuch
	out_has "--force nosuch: no such step"
}

@test '--dry-run says what would run and records nothing' {
	run -0 airlock run --unsigned p --date $DATE
	before=$(count_events true)
	run -0 airlock run --unsigned p --date $DATE --dry-run
	out_has "already committed"
	rm "$(out_file a out.txt)"
	run -0 airlock --json run --unsigned p --date $DATE --dry-run
	echo "$output" | jq -e '.[0].action == "run" and .[1].action == "run"'
	[ "$(count_events true)" = "$before" ]
}

@test 'outputs that break their rules fail the step and are not committed' {
	script p a ': >out.txt'
	run -1 airlock run --unsigned p --date $DATE
	audit_events '.event=="step.end" and .step=="a"' | jq -e '.status == "failed" and (.reason | contains("min_bytes"))'
	[ "$(count_events '.event=="output.committed"')" = 0 ]
	[ ! -e "$(out_file a out.txt)" ]
	script p a 'echo x >out.txt; ln -s /etc/passwd link'
	run -1 airlock run --unsigned p --date $DATE
	audit_events '.event=="step.end" and .step=="a"' | tail -1 | jq -e '.reason | contains("link: not a regular file")'
}

@test 'status, runs and logs show a run' {
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock status
	out_has "p version 1" "date $DATE" " ok"
	[[ $output == *"a "*" ok "* ]]
	run -0 airlock --json status
	echo "$output" | jq -e '.status == "ok" and (.steps | length) == 2 and .steps[1].needs == "a"'
	id=$(echo "$output" | jq -r .run)
	[[ $id =~ ^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$ ]]
	run -0 airlock runs
	out_has "$id"
	run -0 airlock logs "$id" b
	# a confined step reads its input where its view has it
	out_has "b read /airlock/in/a/out.txt"
	run -0 --separate-stderr airlock logs "$id" a
	# shellcheck disable=SC2154 # set by bats' run --separate-stderr
	[ "$stderr" = "a ran" ]
	run -2 airlock logs "$id" nosuch
	out_has "no logs"
}

@test 'AIRLOCK_IDEMPOTENCY_KEY is SHA-256 of pipeline, manifest, date and step' {
	steps p p '[{"id": "k", "run": ["sh", "-c", "echo $AIRLOCK_IDEMPOTENCY_KEY >key"], "outputs": [{"path": "key"}]}]'
	run -0 airlock run --unsigned p --date $DATE
	msha=$(audit_events '.event=="run.start"' | jq -r .manifest_sha256)
	want=$(printf 'p\n%s\n%s\nk' "$msha" "$DATE" | sha256sum | cut -d' ' -f1)
	[ "$(cat "$(out_file k key)")" = "$want" ]
	audit_events '.event=="step.start"' | jq -e --arg k "$want" '.idempotency_key == $k'
}

@test 'an installed pipeline and a bundle run; a bundle is verified first' {
	officers
	mkpipe src
	signed src b.tar.zst
	export PIPE=demo AREA=outputs # out_file's pipeline, a signed run's
	run -0 airlock run b.tar.zst --date $DATE
	audit_events '.event=="bundle.verified"' | jq -e '.pipeline == "demo"'
	audit_events '.event=="run.start"' | jq -e '.source == "bundle" and (has("unsigned") | not)'
	[ "$(cat "$(out_file hello out.txt)")" = hello ]
	run -0 airlock install b.tar.zst
	run -0 airlock run demo --date 2026-11-26
	audit_events '.event=="run.start"' | tail -1 | jq -e '.source == "installed"'
	# a file of the installed bundle changed on this host is refused
	f=$(readlink -f home/pipelines/demo)/bin/hello
	chmod u+w "$(dirname "$f")" "$f"
	echo 'echo evil' >>"$f"
	run -3 airlock run demo --date 2026-11-27
	out_has "bin/hello: differs from the manifest"
	# a tampered bundle never runs
	cp b.tar.zst bad.tar.zst
	helper flipbyte bad.tar.zst 200 >/dev/null
	run -3 airlock run bad.tar.zst --date 2026-11-28
	audit_events '.event=="bundle.rejected"' | jq -e '.bundle == "bad.tar.zst"'
	[ "$(count_events '.event=="run.start" and .date=="2026-11-28"')" = 0 ]
}

@test 'an expired pipeline is refused at run time' {
	sed -i 's/2099-01-01/2020-01-01/' p/airlock.json
	run -3 airlock run --unsigned p --date $DATE
	out_has "expired at 2020-01-01"
	[ "$(count_events '.event=="step.start"')" = 0 ]
}

@test 'bad arguments are usage errors, named' {
	run -2 airlock run --unsigned p --date 2026-13-01
	out_has "--date 2026-13-01: not a date"
	run -2 airlock run nosuch
	out_has "nosuch"
	run -2 airlock run --unsigned p --jobs 0
	out_has "--jobs"
	run -2 airlock run
	out_has "give one pipeline"
	# a malformed manifest is named with its line and column
	printf '{"format": "airlock.manifest/1",\n "pipeline": }\n' >p/airlock.json
	run -2 airlock run --unsigned p --date $DATE
	out_has "p/airlock.json:2:"
	[ "$(count_events '.event=="run.start"')" = 0 ]
}
