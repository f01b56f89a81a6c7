#!/usr/bin/env bats
# t2400-audit-export: an evidence export is verified by airlock-verify
# with nothing else; ranges export the segments they touch; a changed
# export fails.

load ../lib/common

setup() {
	common_setup
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 200 >/dev/null
}

@test 'an export holds VERIFY.txt, FORMAT.md, host.pub, a checkpoint and the segments' {
	run -0 airlock audit export -o evidence.tar.zst
	run -0 tar --zstd -tf evidence.tar.zst
	[ "${lines[0]}" = VERIFY.txt ]
	[ "${lines[1]}" = FORMAT.md ]
	[ "${lines[2]}" = host.pub ]
	[ "${lines[3]}" = checkpoint.txt ]
	[ "${lines[4]}" = checkpoint.txt.minisig ]
	[ "${lines[5]}" = checkpoint.txt.sig ]
	[ "${lines[6]}" = export.txt ]
	[ "${lines[7]}" = export.txt.sig ]
	[ "${lines[8]}" = report.html ]
	[ "${lines[9]}" = members.txt ]
	[ "${lines[10]}" = members.txt.minisig ]
	[ "${lines[11]}" = audit-000001.jsonl ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^audit-')" = "$(ls home/audit/audit-* | wc -l)" ]
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	cmp x/FORMAT.md "$ROOT_DIR/audit/FORMAT.md"
	grep -q "airlock-verify audit evidence.tar.zst" x/VERIFY.txt
	run -0 minisign -Vm x/checkpoint.txt -p x/host.pub
}

@test 'airlock-verify checks an export with nothing else installed' {
	airlock -q audit export -o evidence.tar.zst
	run -0 airlock-verify audit evidence.tar.zst --seal-pub seal.pub --strict
	out_has "intact" "signatures checked with the key given" "checkpoint signature valid"
	# in an empty root, with the static verifier when there is one
	v=$ROOT_DIR/build/static/airlock-verify
	[ -x "$v" ] || skip "no static build"
	mkdir root && cp "$v" evidence.tar.zst seal.pub root/
	run -0 chroot root /airlock-verify audit /evidence.tar.zst --seal-pub /seal.pub
	out_has "intact"
}

@test 'the export ends sealed, and its checkpoint covers its last entry' {
	airlock -q audit export -o evidence.tar.zst
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	last=$(ls x/audit-*.jsonl | tail -1)
	[ "$(tail -1 "$last" | jq -r .event)" = seal ]
	[ "$(sed -n 2p x/checkpoint.txt)" = "$(tail -1 "$last" | jq -r .seq)" ]
	[ "$(sed -n 3p x/checkpoint.txt)" = "$(tail -1 "$last" | sha256sum | cut -c1-64)" ]
}

@test 'an export of one run starts at the first segment it touches' {
	run -0 airlock audit export -o run.tar.zst --run run-t-15
	n=$(tar --zstd -tf run.tar.zst | grep -c '^audit-')
	[ "$n" -ge 1 ]
	[ "$n" -lt "$(ls home/audit/audit-* | wc -l)" ]
	run -0 airlock-verify audit run.tar.zst --seal-pub seal.pub
	out_has "intact" "signatures checked with the key given"
	tar --zstd -xf run.tar.zst -C . --wildcards 'audit-*'
	cat audit-*.jsonl | grep -q '"run":"run-t-15"'
	# the seals before it travel with it (seals.jsonl): without them, the
	# key of its first seal could not be traced to the key handed over
	tar --zstd -xf run.tar.zst seals.jsonl
	[ "$(head -1 seals.jsonl | jq -r .event)" = log.open ]
	[ "$(jq -r .event seals.jsonl | sort -u | tr '\n' ' ')" = "log.open seal " ]
	run -2 airlock audit export -o none.tar.zst --run no-such-run
	out_has "no audit entries in the requested range"
	[ ! -e none.tar.zst ]
}

@test 'seals.jsonl of a range export: a seal dropped or changed fails, a foreign key fails' {
	rm -rf home seal.pub
	mkhome --segment-size 8K --seal-every 10
	helper mklog "$AIRLOCK_HOME" 200 >/dev/null
	airlock -q audit export -o run.tar.zst --run run-t-15
	mkdir x && tar --zstd -xf run.tar.zst -C x
	members=$(tar --zstd -tf run.tar.zst | tr '\n' ' ')
	repack() { (cd x && tar --zstd --format=pax -cf ../re.tar.zst $members); }
	repack
	run -0 airlock-verify audit re.tar.zst --seal-pub seal.pub
	# a seal dropped
	cp x/seals.jsonl keep
	sed -i '3d' x/seals.jsonl && repack
	run -1 airlock-verify audit re.tar.zst --seal-pub seal.pub
	out_has "seals.jsonl:3: seal epoch 2 where 1 was due"
	# a seal's next key replaced by another (a forger's)
	cp keep x/seals.jsonl
	other=$(printf '%064d' 7)
	sed -i "2s/\"next_pub\":\"[0-9a-f]*\"/\"next_pub\":\"$other\"/" x/seals.jsonl && repack
	run -1 airlock-verify audit re.tar.zst --seal-pub seal.pub
	out_has "seal signature does not verify with epoch 0's key"
	# without seals.jsonl, the public key cannot reach the export's seals
	cp keep x/seals.jsonl
	members=${members/seals.jsonl /} && repack
	run -1 airlock-verify audit re.tar.zst --seal-pub seal.pub
	out_has "is not known: the seals before it are not here"
}

@test 'an export cut short fails against the public key: a torn tail, a missing checkpoint, a missing epoch signature' {
	airlock -q audit export -o evidence.tar.zst
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	last=$(ls x/audit-*.jsonl | tail -1)
	members=$(tar --zstd -tf evidence.tar.zst | tr '\n' ' ')
	repack() { (cd x && tar --zstd --format=pax -cf ../cut.tar.zst $1); }
	# the last entries cut off: the checkpoint covers more than is left
	cp "$last" keep
	head -n -3 keep >"$last" && repack "$members"
	run -1 airlock-verify audit cut.tar.zst --seal-pub seal.pub
	out_has "the log was truncated"
	# cut inside a line: a torn tail is a failure in an export
	head -c -20 keep >"$last" && repack "$members"
	run -1 airlock-verify audit cut.tar.zst --seal-pub seal.pub
	out_has "torn tail in an export"
	# cut, and the checkpoint left out: an export without one fails
	head -n -3 keep >"$last" && repack "${members/checkpoint.txt /}"
	run -1 airlock-verify audit cut.tar.zst
	out_has "the export holds no checkpoint"
	# the checkpoint kept but its epoch signature left out: the host key
	# alone does not vouch for it against the public key
	m=${members/checkpoint.txt.sig /}
	cp keep "$last" && repack "${m/export.txt export.txt.sig /}"
	run -0 airlock-verify audit cut.tar.zst
	run -1 airlock-verify audit cut.tar.zst --seal-pub seal.pub
	out_has "has no signature by the seal key"
}

@test 'an export added to after its checkpoint, or holding a member twice, fails' {
	airlock -q audit export -o evidence.tar.zst
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	members=$(tar --zstd -tf evidence.tar.zst | tr '\n' ' ')
	last=$(ls x/audit-*.jsonl | tail -1)
	# an entry chained onto the end: anyone can compute its prev
	n=$(tail -1 "$last" | jq .seq)
	prev=$(tail -1 "$last" | sha256sum | cut -c1-64)
	printf '{"seq":%d,"ts":"2099-01-01T00:00:00.000000Z","prev":"%s","event":"audit.accessed","command":"query"}\n' \
		$((n + 1)) "$prev" >>"$last"
	(cd x && tar --zstd --format=pax -cf ../added.tar.zst $members)
	run -1 airlock-verify audit added.tar.zst --seal-pub seal.pub --strict
	out_has "entries were added after it was made"
	# a second checkpoint.txt: tar -x would keep the last one
	tar --zstd -xf evidence.tar.zst -C x
	mkdir y && cp x/checkpoint.txt y/
	sed -i '2s/.*/1/' y/checkpoint.txt
	segs=$(cd x && ls audit-*)
	(cd x && tar --zstd --format=pax -cf ../twice.tar.zst VERIFY.txt FORMAT.md host.pub checkpoint.txt \
		checkpoint.txt.minisig checkpoint.txt.sig export.txt export.txt.sig -C ../y checkpoint.txt -C ../x $segs)
	run -1 airlock-verify audit twice.tar.zst
	out_has "member checkpoint.txt twice"
}

@test 'the start of an export cut off fails: export.txt, signed, says where it starts' {
	rm -rf home seal.pub
	mkhome --segment-size 8K --seal-every 10
	helper mklog "$AIRLOCK_HOME" 200 >/dev/null
	airlock -q audit export -o run.tar.zst --run run-t-15
	mkdir x && tar --zstd -xf run.tar.zst -C x
	cat x/export.txt
	first=$(ls x/audit-*.jsonl | head -1)
	[ "$(sed -n 3p x/export.txt)" = "$(basename "$first" .jsonl | sed 's/audit-0*//')" ]
	# the first segment dropped, its seals moved into seals.jsonl
	grep '"event":"seal"' "$first" >>x/seals.jsonl
	rm "$first"
	members="VERIFY.txt FORMAT.md host.pub checkpoint.txt checkpoint.txt.minisig checkpoint.txt.sig"
	members="$members export.txt export.txt.sig seals.jsonl $(cd x && ls audit-* | tr '\n' ' ')"
	(cd x && tar --zstd --format=pax -cf ../cut.tar.zst $members)
	run -1 airlock-verify audit cut.tar.zst --seal-pub seal.pub
	out_has "export.txt says entries"
	# export.txt changed to match: its signature fails
	sed -i "2s/^[0-9]*/$(head -1 "$(ls x/audit-*.jsonl | head -1)" | jq .seq)/; 3s/.*/$(ls x/audit-*.jsonl | head -1 | sed 's/.*audit-0*//; s/.jsonl//')/" x/export.txt
	(cd x && tar --zstd --format=pax -cf ../cut.tar.zst $members)
	run -1 airlock-verify audit cut.tar.zst --seal-pub seal.pub
	out_has "export.txt.sig: not a signature of export.txt"
	# and export.txt left out: against the public key, that fails too
	members=${members/export.txt export.txt.sig /}
	(cd x && tar --zstd --format=pax -cf ../cut2.tar.zst $members)
	run -1 airlock-verify audit cut2.tar.zst --seal-pub seal.pub
	out_has "the export holds no export.txt"
}

@test 'seals.jsonl where it has no place, or with its log.open changed, fails' {
	rm -rf home seal.pub
	mkhome --segment-size 8K --seal-every 10
	helper mklog "$AIRLOCK_HOME" 200 >/dev/null
	airlock -q audit export -o run.tar.zst --run run-t-15
	airlock -q audit export -o all.tar.zst
	mkdir x && tar --zstd -xf run.tar.zst -C x
	members=$(tar --zstd -tf run.tar.zst | tr '\n' ' ')
	# log.open's seal_every raised: the epoch-0 seal no longer follows it
	cp x/seals.jsonl keep
	sed -i '1s/"seal_every":10/"seal_every":99999/' x/seals.jsonl
	(cd x && tar --zstd --format=pax -cf ../re.tar.zst $members)
	run -1 airlock-verify audit re.tar.zst --seal-pub seal.pub
	out_has "seals.jsonl:2" "the first seal does not follow log.open"
	# a seals.jsonl slipped into an export that starts at segment 1
	mkdir a && tar --zstd -xf all.tar.zst -C a && cp keep a/seals.jsonl
	amembers=$(tar --zstd -tf all.tar.zst | sed '/^audit-000001/i seals.jsonl' | tr '\n' ' ')
	(cd a && tar --zstd --format=pax -cf ../a.tar.zst $amembers)
	run -1 airlock-verify audit a.tar.zst --seal-pub seal.pub
	out_has "seals.jsonl in an export that starts at segment 1"
}

@test 'a changed byte in an export fails (exit 1), in the tar or in a line' {
	airlock -q audit export -o evidence.tar.zst
	cp evidence.tar.zst copy.tar.zst
	flip_byte copy.tar.zst $(( $(size_of copy.tar.zst) / 2 ))
	run -1 airlock-verify audit copy.tar.zst
	out_has "FAILED"
	# a line changed and the export re-packed
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	sed -i '8s/"i":[0-9]*/"i":999/' x/audit-000001.jsonl
	(cd x && tar --zstd --format=pax -cf ../repacked.tar.zst VERIFY.txt FORMAT.md host.pub checkpoint.txt \
		checkpoint.txt.minisig checkpoint.txt.sig export.txt export.txt.sig audit-*)
	run -1 airlock-verify audit repacked.tar.zst
	out_has "error: line 9 (audit-000001.jsonl:9"
	# a segment dropped from the middle
	rm -rf x && mkdir x && tar --zstd -xf evidence.tar.zst -C x
	rm x/audit-000002.jsonl
	(cd x && tar --zstd --format=pax -cf ../dropped.tar.zst host.pub checkpoint.txt checkpoint.txt.minisig \
		audit-*)
	run -1 airlock-verify audit dropped.tar.zst
	out_has "a segment is missing"
}

@test 'a full disk while exporting leaves no export behind' {
	AIRLOCK_FAULTS='write@3+=ENOSPC' run airlock audit export -o evidence.tar.zst
	[ "$status" -ne 0 ]
	[ ! -e evidence.tar.zst ]
	[ -z "$(ls evidence.tar.zst.tmp.* 2>/dev/null)" ]
	run -2 airlock audit export -o evidence.zip
	out_has "must end in .tar.zst"
}

@test 'report.html inside the export renders it from its own bytes; --format html writes the page alone' {
	airlock -q audit append --event operator.note --field note='<script>alert(1)</script> & "quotes"'
	airlock -q audit export -o evidence.tar.zst
	run -0 airlock-verify audit evidence.tar.zst --seal-pub seal.pub
	tar --zstd -xOf evidence.tar.zst report.html >page.html
	grep -q '<span class="st st-ok">intact</span>' page.html
	grep -q 'run-t-15' page.html
	grep -q 'operator.note' page.html
	grep -q '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;' page.html
	grep -q '<script' page.html && return 1
	grep -q "Content-Security-Policy" page.html
	# every member for people is in members.txt, signed by the host key:
	# sha256sum and minisign check them; a changed one fails the export
	mkdir y && tar --zstd -xf evidence.tar.zst -C y
	(cd y && sha256sum -c members.txt && minisign -Vm members.txt -p host.pub)
	[ "$(wc -l <y/members.txt)" = 5 ]
	for m in report.html FORMAT.md VERIFY.txt; do
		rm -rf z && cp -a y z
		printf 'x' >>"z/$m"
		# shellcheck disable=SC2046 # the members, in order
		(cd z && tar --zstd --format=pax -cf ../changed.tar.zst $(tar --zstd -tf ../evidence.tar.zst))
		run -1 airlock-verify audit changed.tar.zst
		out_has "$m: changed since the export was made"
	done
	# the list itself changed, or dropped with the page kept
	rm -rf z && cp -a y z
	sed -i '1s/^./0/' z/members.txt
	# shellcheck disable=SC2046
	(cd z && tar --zstd --format=pax -cf ../changed.tar.zst $(tar --zstd -tf ../evidence.tar.zst))
	run -1 airlock-verify audit changed.tar.zst
	out_has "members.txt:"
	# shellcheck disable=SC2046
	(cd y && tar --zstd --format=pax -cf ../dropped.tar.zst $(tar --zstd -tf ../evidence.tar.zst | grep -v '^members'))
	run -1 airlock-verify audit dropped.tar.zst
	out_has "report.html without members.txt"
	# the first and the last entries of a long export, the rest a query away
	n=$(zstd -dcf home/audit/audit-* | wc -l)
	grep -q "$n entries" page.html
	run -0 airlock audit export -o page2.html --format html
	out_has "page2.html written"
	grep -q '<span class="st st-ok">intact</span>' page2.html
	ls ./*.part-* 2>/dev/null && return 1
	run -2 airlock audit export -o x.tar.zst --format pdf
	run -2 airlock audit export -o x.tar.zst --format html
	out_has "must end in .html"
	[ ! -e x.tar.zst ]
}

@test 'an export of a log that does not verify: its page says so, in words' {
	seg=$(ls home/audit/audit-*.jsonl | head -1)
	cp "$seg" before
	sed -i '0,/"run":"run-t-/s//"run":"run-x-/' "$seg"
	cmp -s before "$seg" && return 1
	run -0 airlock audit export -o bad.html --format html
	out_has "does not verify"
	grep -q 'NOT INTACT' bad.html
	grep -q 'Findings' bad.html
	grep -q '<h2>Runs</h2>' bad.html && return 1
	true
}

@test 'the page and members.txt of another export do not pass for this one' {
	airlock -q audit export -o a.tar.zst
	helper mklog "$AIRLOCK_HOME" 20 >/dev/null
	airlock -q audit export -o b.tar.zst
	mkdir a b && tar --zstd -xf a.tar.zst -C a && tar --zstd -xf b.tar.zst -C b
	cp a/VERIFY.txt a/FORMAT.md a/report.html a/members.txt a/members.txt.minisig b/
	# shellcheck disable=SC2046 # the members, in order
	(cd b && tar --zstd --format=pax -cf ../moved.tar.zst $(tar --zstd -tf ../b.tar.zst))
	run -1 airlock-verify audit moved.tar.zst
	out_has "checkpoint.txt: changed since the export was made"
}
