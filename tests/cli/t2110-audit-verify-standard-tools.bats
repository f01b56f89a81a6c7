#!/usr/bin/env bats
# t2110-audit-verify-standard-tools: the recipe of audit/FORMAT.md §9,
# taken from the document itself and run as written, checks the chain with
# jq, sha256sum and split alone; and a tampered log fails it.

load ../lib/common

setup() {
	common_setup
	mkhome --segment-size 16K --compress
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	airlock -q audit seal
	# the first ```sh block of section 9, exactly as the document gives it
	awk '/^## 9\./ { in9 = 1 } in9 && /^```sh/ { on = 1; next } on && /^```/ { exit } on' \
		"$ROOT_DIR/audit/FORMAT.md" >recipe.sh
	[ -s recipe.sh ]
	mkdir copy
	cp home/audit/audit-* copy/
	[ "$(find copy -name '*.zst' | wc -l)" -ge 1 ] # the recipe handles compressed segments
}

@test 'the recipe of FORMAT.md says the chain is intact' {
	run -0 bash -c 'cd copy && sh ../recipe.sh'
	out_has "chain intact"
	out_lacks "BAD"
}

@test 'the recipe catches a changed entry' {
	last=$(ls copy/audit-*.jsonl | tail -1)
	cp "$last" before
	sed -i '5s/"run":"run-t-/"run":"run-x-/' "$last"
	run -1 cmp -s before "$last"
	run bash -c 'cd copy && sh ../recipe.sh'
	out_has "BAD: chain"
}

@test 'the recipe catches a deleted entry' {
	last=$(ls copy/audit-*.jsonl | tail -1)
	sed -i '4d' "$last"
	run bash -c 'cd copy && sh ../recipe.sh'
	out_has "BAD: seq"
}

@test 'the seal recipe of FORMAT.md computes the first mac' {
	awk '/^## 9\./ { in9 = 1 } in9 && /^```sh/ { n++; if (n == 2) { on = 1; next } } on && /^```/ { exit } on' \
		"$ROOT_DIR/audit/FORMAT.md" >seal.sh
	run -0 bash -c 'cd copy && sh ../recipe.sh >/dev/null && cp ../k0.txt . && sh ../seal.sh'
	first_mac=$(zstd -dc home/audit/audit-000001.jsonl.zst | jq -r 'select(.event == "seal") | .mac' | head -1)
	[ "${lines[0]}" = "$first_mac" ]
	# the next key, by the recipe under sh (dash), is SHA-256("airlock.fss/1" || k0)
	run -0 bash -c 'cd copy && sh -c ". ../seal.sh >/dev/null; echo \$k"'
	want=$(python3 -c 'import hashlib,sys; k=open("k0.txt").read().strip(); print(hashlib.sha256(b"airlock.fss/1" + bytes.fromhex(k)).hexdigest())')
	[ "$output" = "$want" ]
}
