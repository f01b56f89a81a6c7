#!/usr/bin/env bats
# t2110-audit-verify-standard-tools: the recipe of audit/FORMAT.md §9,
# taken from the document itself and run as written, checks the chain and
# the seals with the tools it names and nothing else (a PATH of those
# alone, no airlock, no jq); and a tampered log fails it. bench/recipe
# runs it on 10 M entries.

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

# named_tools DIR: DIR holds the tools that §9 names, and only those.
named_tools() {
	local t
	mkdir -p "$1"
	for t in sh ls sort cat head wc tr basenc sed perl zstd openssl; do
		ln -s "$(command -v "$t")" "$1/$t"
	done
}

@test 'the recipe of FORMAT.md says the chain is intact' {
	run -0 bash -c 'cd copy && sh ../recipe.sh'
	out_has "chain intact: $(zstd -dcf home/audit/audit-* | wc -l) entries"
	out_lacks "BAD"
}

@test 'the recipe needs only the tools it names: no airlock, no jq, no process per line' {
	named_tools tools
	awk '/^## 9\./ { in9 = 1 } in9 && /^```sh/ { n++; if (n == 2) { on = 1; next } } on && /^```/ { exit } on' \
		"$ROOT_DIR/audit/FORMAT.md" >seal.sh
	cp seal.pub copy/
	run -0 env -i PATH="$PWD/tools" sh -c 'cd copy && sh ../recipe.sh && sh ../seal.sh'
	out_has "chain intact"
	out_lacks "BAD"
	out_lacks "not found"
	n=$(zstd -dcf home/audit/audit-* | grep -c '"event":"seal"')
	out_has "$n of $n seals verified"
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

@test 'the seal recipe of FORMAT.md checks every seal against the public key' {
	awk '/^## 9\./ { in9 = 1 } in9 && /^```sh/ { n++; if (n == 2) { on = 1; next } } on && /^```/ { exit } on' \
		"$ROOT_DIR/audit/FORMAT.md" >seal.sh
	[ -s seal.sh ]
	cp seal.pub copy/
	# under sh (dash), as written
	run -0 sh -c 'cd copy && sh ../recipe.sh >/dev/null && sh ../seal.sh'
	n=$(zstd -dcf home/audit/audit-* | grep -c '"event":"seal"')
	[ "$n" -gt 1 ]
	out_has "$n of $n seals verified"
	out_lacks "BAD"
}

@test 'the seal recipe catches a rewritten entry that the chain no longer shows' {
	awk '/^## 9\./ { in9 = 1 } in9 && /^```sh/ { n++; if (n == 2) { on = 1; next } } on && /^```/ { exit } on' \
		"$ROOT_DIR/audit/FORMAT.md" >seal.sh
	# a rewritten entry, every later line re-chained: only the seals see it
	rm -rf plain && mkdir plain && for f in copy/audit-*; do zstd -dcf "$f" >"plain/$(basename "${f%.zst}")"; done
	sed -i '20s/"run":"run-t-/"run":"run-x-/' plain/audit-000001.jsonl
	helper forge rechain plain
	cp seal.pub plain/
	run -0 sh -c 'cd plain && sh ../recipe.sh'
	out_has "chain intact"
	run -0 sh -c 'cd plain && sh ../recipe.sh >/dev/null && sh ../seal.sh'
	out_has "BAD: seal at seq"
}
