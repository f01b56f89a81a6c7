#!/usr/bin/env bats
# t2100-audit-verify-tamper: a 10 000-entry sealed log, anchored by a
# checkpoint, and every way of changing it that we can name: each is
# caught (exit 1) at the right line; the untouched log verifies (exit 0).

load ../lib/common

setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	export AIRLOCK_HOME=$BATS_FILE_TMPDIR/home
	airlock -q audit init --seal-key-out k0.txt 2>/dev/null
	helper mklog "$AIRLOCK_HOME" 10000 >/dev/null
	airlock -q audit seal
	airlock -q audit checkpoint -o anchor
	airlock -q audit seal # the checkpoint entry sealed too
	cp -a home pristine
}

setup() {
	common_setup
	export AIRLOCK_HOME=$BATS_TEST_TMPDIR/home
	cp -a "$BATS_FILE_TMPDIR/pristine" home
	cp "$BATS_FILE_TMPDIR/k0.txt" k0.txt
	cp -a "$BATS_FILE_TMPDIR/anchor" anchor
	log=$(seg 1)
}

# verify_all: the full check, with the seal key and the anchor.
verify_all() {
	airlock-verify audit home/audit --seal-key k0.txt --anchor anchor/checkpoint.txt "$@"
}

# first_error_line: the line number of the first error in $output.
first_error_line() {
	printf '%s\n' "$output" | sed -n 's/^error: line \([0-9][0-9]*\).*/\1/p' | head -1
}

@test 'the untouched log verifies, seals and anchor included' {
	run -0 verify_all --strict
	out_has "intact" "macs checked" "anchor holds"
	[ "$(wc -l <"$log")" -gt 10000 ]
}

@test 'a changed byte at 1000 places is caught at its line (or the next)' {
	size=$(size_of "$log")
	# 1000 positions spread over the file, each with the line it is on
	awk -v size="$size" -v n=1000 'BEGIN { srand(20261125); for (i = 0; i < n; i++) print int(rand() * size) }' |
		sort -n >positions
	awk 'NR == FNR { want[++k] = $1; next }
	     { end = pos + length($0) + 1; while (j < k && want[j + 1] < end) { j++; print want[j], FNR } pos = end }
	     BEGIN { pos = 0; j = 0 }' positions "$log" >expected
	[ "$(wc -l <expected)" = 1000 ]
	missed=0
	while read -r pos line; do
		helper flipbyte "$log" "$pos"
		run verify_all
		got=$(first_error_line)
		helper flipbyte "$log" "$pos"
		if [ "$status" -ne 1 ] || { [ "$got" != "$line" ] && [ "$got" != "$((line + 1))" ]; }; then
			echo "byte $pos (line $line): exit $status, reported line '${got}': $output" >&2
			missed=$((missed + 1))
		fi
	done <expected
	[ "$missed" -eq 0 ]
	run -0 verify_all # every flip was undone
}

@test 'a deleted line is caught at its place' {
	sed -i '5000d' "$log"
	run -1 verify_all
	[ "$(first_error_line)" = 5000 ]
	out_has "seq 5001 where 5000 was due"
}

@test 'a duplicated line is caught' {
	sed -i '4321p' "$log"
	run -1 verify_all
	[ "$(first_error_line)" = 4322 ]
}

@test 'two swapped lines are caught' {
	sed -i '7000{h;d};7001{G}' "$log"
	run -1 verify_all
	[ "$(first_error_line)" = 7000 ]
}

@test 'an inserted line is caught' {
	line=$(sed -n 2500p "$log")
	sed -i "2500a\\$line" "$log"
	run -1 verify_all
	[ "$(first_error_line)" = 2501 ]
}

@test 'a truncated tail is caught by the anchor' {
	n=$(sed -n 2p anchor/checkpoint.txt)
	head -n $((n - 5)) "$log" >cut.tmp && cat cut.tmp >"$log"
	run -1 verify_all
	out_has "covers $n entries but the log ends at $((n - 5)): the log was truncated"
	# without the anchor, a clean cut at a line end looks like a shorter log
	run -0 airlock-verify audit home/audit
}

@test 'a rewritten and re-chained entry is caught by the seal after it' {
	sed -i '3000s/"exit":0/"exit":1/; 3000s/"i":[0-9]*/"i":1/' "$log"
	helper forge rechain home/audit
	# the chain holds again; without k0 it cannot be told
	run -0 airlock-verify audit home/audit
	run -1 airlock-verify audit home/audit --seal-key k0.txt
	out_has "seal mac is wrong"
	# and the anchor, made before, holds the old hash
	run -1 airlock-verify audit home/audit --anchor anchor/checkpoint.txt
	out_has "differs from anchor/checkpoint.txt"
}

@test 'a removed seal is caught even after re-chaining' {
	first_seal=$(grep -n '"event":"seal"' "$log" | sed -n 3p | cut -d: -f1)
	sed -i "${first_seal}d" "$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit
	out_has "seal epoch 3 where 2 was due (a seal removed"
	[ "$(first_error_line)" -ge "$first_seal" ]
}

@test 'history re-sealed with the current key is caught' {
	# The intruder holds the host's current key (epoch E): it rewrites an
	# old entry and re-seals everything with that key.
	epoch=$(cut -d' ' -f2 home/audit/fss.key)
	cut -d' ' -f3 home/audit/fss.key >current.key
	sed -i '100s/"size":1234/"size":1/' "$log"
	helper forge reseal home/audit current.key "$epoch"
	run -1 airlock-verify audit home/audit
	out_has "first seal has epoch $epoch, not 0"
	# keeping the epoch numbers does not help: the macs are wrong
	cp -a "$BATS_FILE_TMPDIR/pristine/audit/." home/audit/
	sed -i '100s/"size":1234/"size":1/' "$log"
	helper forge reseal home/audit current.key 0
	run -0 airlock-verify audit home/audit
	run -1 airlock-verify audit home/audit --seal-key k0.txt
	out_has "seal mac is wrong for epoch 0"
}

@test 'a log with no seal at all fails under --seal-key' {
	sed -i '/"event":"seal"/d' "$log"
	helper forge rechain home/audit
	run -0 airlock-verify audit home/audit
	out_has "unsealed tail"
	run -1 airlock-verify audit home/audit --seal-key k0.txt
	out_has "entries and no seal at all"
}

@test 'a forged checkpoint signature is caught' {
	sed -i '2s/.*/5/' anchor/checkpoint.txt
	run -1 verify_all
	out_has "anchor/checkpoint.txt.minisig: signature verification failed"
	# signed by another key
	cp "$BATS_FILE_TMPDIR/anchor/checkpoint.txt" anchor/
	mkkey intruder
	airlock sign-file -s intruder.key -x anchor/checkpoint.txt.minisig anchor/checkpoint.txt
	run -1 verify_all
	out_has "signature key id"
	run -3 airlock-verify checkpoint anchor/checkpoint.txt -p home/host.pub
}

@test 'an unsealed tail fails only under --strict' {
	airlock -q audit append --event operator.note --field a=b
	run -0 airlock-verify audit home/audit --seal-key k0.txt
	out_has "warning: unsealed tail: 2 entries after the last seal"
	run -1 airlock-verify audit home/audit --seal-key k0.txt --strict
}

@test 'verify --json gives one object a finding and a summary' {
	sed -i '5000d' "$log"
	run -1 airlock-verify audit home/audit --json
	printf '%s\n' "$output" | jq -e -s 'map(select(.level == "error"))[0] | .line == 5000 and .segment == "audit-000001.jsonl" and (.message | length > 0)'
	printf '%s\n' "$output" | jq -e -s 'map(select(.result))[0] | .result == "tampered" and (.log_id | length == 32)'
}

@test 'a missing log, a wrong seal key file: exit 2' {
	run -2 airlock-verify audit nothing-here
	out_has "nothing-here"
	echo nothex >bad.key
	run -2 airlock-verify audit home/audit --seal-key bad.key
	out_has "not a seal key"
}
