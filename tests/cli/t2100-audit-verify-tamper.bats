#!/usr/bin/env bats
# t2100-audit-verify-tamper: a 10 000-entry sealed log, anchored by a
# checkpoint, and every way of changing it that we can name: each is
# caught (exit 1) at the right line; the untouched log verifies (exit 0).
# The forger of FORMAT.md §5 holds every file of the host (the home, its
# keys, the binary) and still cannot make the log verify against the seal
# public key handed over at init.

load ../lib/common

setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	export AIRLOCK_HOME=$BATS_FILE_TMPDIR/home
	airlock -q audit init --seal-pub-out seal.pub 2>/dev/null
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
	cp "$BATS_FILE_TMPDIR/seal.pub" seal.pub
	cp -a "$BATS_FILE_TMPDIR/anchor" anchor
	log=$(seg 1)
}

# verify_all: the full check, with the seal public key and the anchor.
verify_all() {
	airlock-verify audit home/audit --seal-pub seal.pub --anchor anchor/checkpoint.txt "$@"
}

# first_error_line: the line number of the first error in $output.
first_error_line() {
	printf '%s\n' "$output" | sed -n 's/^error: line \([0-9][0-9]*\).*/\1/p' | head -1
}

@test 'the untouched log verifies, seals and anchor included' {
	run -0 verify_all --strict
	out_has "intact" "signatures checked with the key given" "anchor holds"
	size=$(sed -n 2p anchor/checkpoint.txt)
	out_has "anchored off-host up to #$size"
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
	# the chain holds again; without the public key, only the log's own
	# claims are checked, and the seal after line 3000 does not hold
	run -1 airlock-verify audit home/audit
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "seal signature does not verify with epoch"
	seal=$(awk 'NR > 3000 && /"event":"seal"/ { print NR; exit }' "$log")
	[ "$(first_error_line)" = "$seal" ]
	# the anchor, made before, holds the old hash too
	run -1 airlock-verify audit home/audit --anchor anchor/checkpoint.txt
}

@test 'a removed seal is caught even after re-chaining' {
	first_seal=$(grep -n '"event":"seal"' "$log" | sed -n 3p | cut -d: -f1)
	sed -i "${first_seal}d" "$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit
	out_has "seal epoch 3 where 2 was due (a seal removed"
	[ "$(first_error_line)" -ge "$first_seal" ]
}

@test 'the forger with every file of the host re-signs what it can: caught at the first seal it re-made' {
	# It rewrites line 3000, re-chains every later line and re-signs every
	# later seal, epochs kept, with the keys it holds: the current epoch's
	# seed in fss.key, evolved. The seal before 3000 announced a key the
	# forger never had.
	cp home/audit/fss.key stolen.key
	sed -i '3000s/"size":[0-9]*/"size":1/' "$log"
	seal=$(awk 'NR > 3000 && /"event":"seal"/ { print NR; exit }' "$log")
	helper forge resign home/audit stolen.key 3000
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "seal signature does not verify with epoch"
	[ "$(first_error_line)" = "$seal" ]
}

@test 'the forger re-signs the whole log with its own key: log.open gives it away at line 1' {
	cp home/audit/fss.key stolen.key
	sed -i '3000s/"size":[0-9]*/"size":1/' "$log"
	helper forge resign home/audit stolen.key 1
	# the log agrees with itself from line 1 on...
	run -0 airlock-verify audit home/audit
	out_has "signatures not checked against a key: no --seal-pub"
	# ...but not with the key handed over at init
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "log.open names seal key" "not the key given"
	[ "$(first_error_line)" = 1 ]
}

@test 'the forger drops the seals after its rewrite: the unsealed span gives it away' {
	sed -i '3000s/"size":[0-9]*/"size":1/' "$log"
	awk 'NR < 3000 || !/"event":"seal"/' "$log" >cut.tmp && cat cut.tmp >"$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "more than the log's seal interval (1000)"
	# the first unsealed line is named: the one after the last seal kept
	last=$(awk '/"event":"seal"/ { n = NR } END { print n }' "$log")
	[ "$(first_error_line)" = $((last + 1)) ]
	# a seal appended with the key of the host's current epoch does not help
	airlock -q audit seal 2>/dev/null || true
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "where"
}

@test 'an old seal key cannot be had from the home: each one is wiped once used' {
	before=$(fss_record | cut -d' ' -f3)
	airlock -q audit append --event operator.note --field a=b
	airlock -q audit seal
	after=$(fss_record | cut -d' ' -f3)
	[ "$before" != "$after" ]
	# one record in the file: the old slot is zeros, overwritten in place
	[ "$(fss_record | wc -l)" = 1 ]
	[ "$(stat -c %s home/audit/fss.key)" -le 8192 ]
	# and nowhere in the home: not in a file, not in the index
	airlock -q audit query --event seal >/dev/null
	run -1 grep -rqa "$before" home
	# nor on the file system's free blocks of this file: the same blocks
	# were overwritten (ext4 and tmpfs overwrite in place)
	run -1 grep -qa "$before" home/audit/fss.key
	# the next key is the hash of the old one: nothing leads back
	run -1 grep -rqa "$(printf '%s' "$after" | sha256sum | cut -c1-64)" home
}

@test 'a log with no seal at all fails under --seal-pub' {
	sed -i '/"event":"seal"/d' "$log"
	helper forge rechain home/audit
	run -0 airlock-verify audit home/audit
	out_has "unsealed tail"
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "entries and no seal at all"
}

@test 'a log cut back to a seal fails against the anchor, and is said to reach no further' {
	n=$(sed -n 2p anchor/checkpoint.txt)
	cut=$(awk -v n="$n" 'NR < n - 10 && /"event":"seal"/ { c = NR } END { print c }' "$log")
	head -n "$cut" "$log" >cut.tmp && cat cut.tmp >"$log"
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
	out_has "sealed up to #$((cut - 1))"
	run -1 verify_all
	out_has "covers $n entries but the log ends at $cut: the log was truncated"
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

@test 'an unsealed tail fails only under --strict, and reads never make it fail' {
	airlock -q audit query --event seal >/dev/null
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
	out_has "unsealed tail: 2 entries after the last seal (reads only)"
	airlock -q audit append --event operator.note --field a=b
	run -0 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "warning: unsealed tail: "
	out_lacks "(reads only)"
	run -1 airlock-verify audit home/audit --seal-pub seal.pub --strict
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
	run -2 airlock-verify audit home/audit --seal-pub bad.key
	out_has "not a seal public key"
	run -2 airlock-verify audit home/audit --seal-key bad.key
	out_has "not a seal key"
}

@test 'another log's public key is refused at line 1' {
	AIRLOCK_HOME=$PWD/other airlock -q audit init --seal-pub-out other.pub 2>/dev/null
	run -1 airlock-verify audit home/audit --seal-pub other.pub
	[ "$(first_error_line)" = 1 ]
	# typed back from paper: the 64 digits alone are accepted
	cut -d' ' -f2 seal.pub >typed.pub
	run -0 airlock-verify audit home/audit --seal-pub typed.pub
}
