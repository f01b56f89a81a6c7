#!/usr/bin/env bats
# t4950-records: every version of a committed output is kept (HOME/records)
# and re-created byte for byte, proven against the log (airlock recreate);
# a change made outside airlock is recorded with its owner, mtime and the
# time it was seen; unsigned runs stay out of production outputs; reads
# record their arguments (issue 20).

load ../lib/common
load ../fixtures/run
load ../fixtures/bundle

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	# results.csv differs at each run: a counter kept in a mounted
	# directory of the test's (a confined step sees nothing else)
	steps src rec "[{\"id\": \"report\", \"run\": [\"bin/report\"], $(ctl_mount),
	  \"outputs\": [{\"path\": \"results.csv\", \"min_rows\": 1}]}]"
	script src report 'n=$(cat /airlock/mnt/ctl/n 2>/dev/null || echo 0); n=$((n + 1))
echo "$n" >/airlock/mnt/ctl/n
printf "id,score\n1,%s\n" "$n" >results.csv'
	VIS=$AIRLOCK_HOME/outputs/rec/$DATE/report/results.csv
}

# install_rec: the pipeline (src/, named rec) signed by two officers and installed.
install_rec() {
	officers
	signed src rec.tar.zst
	airlock -q install rec.tar.zst
}

run_id() {
	audit_events '.event=="run.start"' | tail -1 | jq -r .run
}

@test 'three reruns that change results.csv: recreate gives back each version, the log says who and when' {
	install_rec
	ids=()
	for i in 1 2 3; do
		airlock -q run rec --date $DATE --force report
		cp "$VIS" "v$i"
		ids+=("$(run_id)")
	done
	! cmp -s v1 v2 && ! cmp -s v2 v3
	for k in 0 1 2; do # not i: bats' run sets it
		run -0 airlock recreate "$VIS" --run "${ids[$k]}" -o "r$k"
		cmp "v$((k + 1))" "r$k"
		out_has "committed by run ${ids[$k]}" "the record's bytes match; the log verifies"
	done
	# the newest by default; --as-of the time of the second commit
	airlock recreate "$VIS" >now
	cmp v3 now
	t2=$(audit_events '.event=="output.committed"' | sed -n 2p | jq -r .ts)
	airlock recreate "$VIS" --as-of "$t2" >as-of.csv
	cmp v2 as-of.csv
	# who and when: each commit's entry, stamped with the user
	run -0 airlock --json recreate "$VIS" --list
	echo "$output" | jq -e '[.versions[] | select(.event == "output.committed")] | length == 3'
	echo "$output" | jq -e '[.versions[] | .user] | unique == ["root"]'
	echo "$output" | jq -e '[.versions[] | .ts | test("^2[0-9-]+T[0-9:.]+Z$")] | all'
	# a path as the operator types it, relative to where they are
	cd "$AIRLOCK_HOME/outputs/rec/$DATE"
	airlock recreate report/results.csv --run "${ids[0]}" >"$BATS_TEST_TMPDIR/rel"
	cmp "$BATS_TEST_TMPDIR/v1" "$BATS_TEST_TMPDIR/rel"
}

@test 'the record never shares an inode with the visible file: an edit in place changes no version' {
	install_rec
	airlock -q run rec --date $DATE
	first=$(run_id)
	cp "$VIS" orig
	sha=$(sha256sum "$VIS" | cut -d' ' -f1)
	rec=$AIRLOCK_HOME/records/sha256/${sha:0:2}/$sha
	[ -f "$rec" ]
	[ "$(stat -c %i "$rec")" != "$(stat -c %i "$VIS")" ]
	[ "$(stat -c %h "$VIS")" = 1 ]
	[ "$(stat -c %a "$rec")" = 444 ]
	# root writes into the visible file in place (through its inode)
	printf 'x,999\n' >>"$VIS"
	airlock recreate "$VIS" --run "$first" >back
	cmp orig back
}

@test 'a change made outside airlock: seen, with the owner and mtime of the file, its bytes kept' {
	install_rec
	airlock -q run rec --date $DATE
	first=$(run_id)
	printf 'id,score\n1,-1\n' >forged
	cp forged "$VIS"
	chown 65534:65534 "$VIS"
	touch -d '2026-11-25 03:00:30 UTC' "$VIS"
	run -0 airlock run rec --date $DATE
	audit_events '.event=="output.phantom"' | jq -e --arg p "$VIS" '.files[0] |
	  .path == $p and .uid == 65534 and .mtime == "2026-11-25T03:00:30.000000Z" and .size == 14 and .kept == true'
	audit_events '.event=="output.phantom"' | jq -e '.committed_by == "'"$first"'" and (.ts | length) > 0'
	# the changed version is kept and listed, beside the commits
	run -0 airlock recreate "$VIS" --list
	out_has "changed outside airlock: owner" "uid 65534" "2026-11-25T03:00:30"
	sha=$(sha256sum forged | cut -d' ' -f1)
	cmp forged "$AIRLOCK_HOME/records/sha256/${sha:0:2}/$sha"
	# the rerun committed a new version; the first is still there
	run -0 airlock --json recreate "$VIS" --list
	echo "$output" | jq -e '[.versions[] | .event] == ["output.committed", "output.phantom", "output.committed"]'
}

@test 'a changed record is refused (exit 3); a tampered log gives no version (exit 1)' {
	install_rec
	airlock -q run rec --date $DATE
	sha=$(sha256sum "$VIS" | cut -d' ' -f1)
	rec=$AIRLOCK_HOME/records/sha256/${sha:0:2}/$sha
	cp "$rec" saved
	chmod u+w "$rec"
	printf 'id,score\n1,0\n' >"$rec"
	run -3 airlock recreate "$VIS" -o out.csv
	out_has "the record was changed"
	[ ! -e out.csv ]
	cp saved "$rec"
	run -0 airlock recreate "$VIS" -o out.csv
	# one byte of the output.committed entry changed: the chain breaks
	seg1=$(seg 1)
	sed -i '/"event":"output.committed"/s/"results.csv"/"results.csX"/' "$seg1"
	rm -f out.csv
	run -1 airlock recreate "$VIS" -o out.csv
	out_has "does not verify"
	[ ! -e out.csv ]
}

@test 'recreate: usage errors name what is wrong (exit 2)' {
	install_rec
	airlock -q run rec --date $DATE
	run -2 airlock recreate "$VIS" --run nosuchrun -o x
	out_has "no version committed by run nosuchrun"
	run -2 airlock recreate "$AIRLOCK_HOME/outputs/rec/$DATE/report/other.csv" -o x
	out_has "names no committed output"
	run -2 airlock recreate "$VIS" -o "$AIRLOCK_HOME/copy.csv"
	out_has "inside the airlock home"
	run -2 airlock recreate "$VIS" --run a --as-of 2026-11-25T00:00:00Z -o x
	run -2 airlock recreate "$VIS" --as-of yesterday -o x
	run -2 airlock recreate
	# a version before the first commit
	run -2 airlock recreate "$VIS" --as-of 2000-01-01T00:00:00Z -o x
	out_has "at or before 2000-01-01T00:00:00Z"
}

@test 'a full disk while keeping the record: the commit fails before anything is announced' {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	script src report 'head -c 300000 /dev/zero | tr "\0" "x" >results.csv; echo >>results.csv'
	install_rec
	mkdir -p "$AIRLOCK_HOME/records"
	mount -t tmpfs -o size=64k tmpfs "$AIRLOCK_HOME/records" || skip "cannot mount a tmpfs here"
	run airlock run rec --date $DATE
	umount "$AIRLOCK_HOME/records"
	[ "$status" -eq 1 ] || [ "$status" -eq 4 ]
	out_has "output results.csv:" "No space left on device"
	[ "$(count_events '.event=="output.staged"')" = 0 ]
	[ "$(count_events '.event=="output.committed"')" = 0 ]
	[ ! -e "$VIS" ]
	run -0 airlock audit verify
}

@test 'an unsigned run never touches outputs/; status, its summary and its report say it is unsigned' {
	install_rec
	airlock -q run --unsigned ./src --date $DATE
	[ ! -e "$AIRLOCK_HOME/outputs" ]
	[ -f "$AIRLOCK_HOME/scratch/outputs/rec/$DATE/report/results.csv" ]
	id=$(run_id)
	run -0 airlock status
	out_has "UNSIGNED" "scratch/outputs"
	airlock --json status | jq -e '.unsigned == true'
	jq -e '.unsigned == true' "$AIRLOCK_HOME/runs/$id/summary.json"
	airlock -q report "$id" -o r.html
	grep -q 'UNSIGNED</span> run from the directory' r.html
	# the signed pipeline of the same name is not taken as committed by it
	airlock -q run rec --date $DATE
	[ -f "$VIS" ]
	audit_events '.event=="step.skipped"' | jq -e 'false' && return 1
	airlock --json status | jq -e '.unsigned == false'
	airlock -q report "$(run_id)" -o s.html
	grep -q 'officer one' s.html
}

@test 'every read of the log records its arguments; verify and logs are recorded too' {
	install_rec
	airlock -q run rec --date $DATE
	id=$(run_id)
	airlock audit query --run "$id" --event run.end >/dev/null
	audit_events '.event=="audit.accessed"' | tail -1 |
		jq -e --arg r "$id" '.command == "query" and .args == ["query", "--run", $r, "--event", "run.end"] and .user == "root"'
	airlock audit sql 'SELECT count(*) FROM entries' >/dev/null
	audit_events '.event=="audit.accessed"' | tail -1 | jq -e '.args == ["sql", "SELECT count(*) FROM entries"]'
	airlock logs "$id" report >/dev/null
	audit_events '.event=="audit.accessed"' | tail -1 | jq -e --arg r "$id" '.command == "logs" and .args == [$r, "report"]'
	airlock -q audit verify
	audit_events '.event=="audit.accessed"' | tail -1 | jq -e '.command == "verify" and .args == ["verify"]'
	airlock recreate "$VIS" --list >/dev/null
	audit_events '.event=="audit.accessed"' | tail -1 | jq -e '.command == "recreate" and .args[1] == "--list"'
	# verify is recorded after it checked: a tampered log is found as it was
	n=$(count_events true)
	sed -i '2s/"root"/"rooT"/' "$(seg 1)"
	run -1 airlock audit verify
	[ "$(cat "$AIRLOCK_HOME"/audit/audit-*.jsonl | wc -l)" -ge "$n" ]
}

@test 'recreate takes its versions from the lines the verifier accepted, never from index.db' {
	install_rec
	airlock -q run rec --date $DATE
	first=$(run_id)
	cp "$VIS" v1
	airlock -q run rec --date $DATE --force report
	cp "$VIS" v2
	s1=$(sha256sum v1 | cut -d' ' -f1)
	s2=$(sha256sum v2 | cut -d' ' -f1)
	# the index (a cache no chain protects) made to name v2's bytes for the first run
	airlock audit query --event output.committed >/dev/null
	sqlite3 "$AIRLOCK_HOME/audit/index.db" "UPDATE entries SET json = replace(json, '$s1', '$s2')"
	airlock recreate "$VIS" --run "$first" >back
	cmp v1 back
}

@test 'the output directory deleted: recreate still gives the version back; names below it are checked' {
	install_rec
	airlock -q run rec --date $DATE
	cp "$VIS" v1
	rm -rf "$AIRLOCK_HOME/outputs/rec"
	airlock recreate "$VIS" -o back
	cmp v1 back
	run -2 airlock recreate "$AIRLOCK_HOME/outputs/rec/gone/../$DATE/report/results.csv" -o x
	out_has "not a file's path"
	[ ! -e x ]
}

@test 'recreate --seq gives back a change seen from outside, whose bytes were kept' {
	install_rec
	airlock -q run rec --date $DATE
	printf 'id,score\n1,-1\n' >forged
	cp forged "$VIS"
	airlock -q run rec --date $DATE
	n=$(audit_events '.event=="output.phantom"' | jq -r .seq)
	run -0 airlock recreate "$VIS" --seq "$n" -o seen
	out_has "changed outside airlock"
	cmp forged seen
	run -2 airlock recreate "$VIS" --seq 1 -o x
	out_has "no version of a kept file at entry 1"
}
