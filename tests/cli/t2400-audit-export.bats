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
	[ "${lines[5]}" = audit-000001.jsonl ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^audit-')" = "$(ls home/audit/audit-* | wc -l)" ]
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	cmp x/FORMAT.md "$ROOT_DIR/audit/FORMAT.md"
	grep -q "airlock-verify audit evidence.tar.zst" x/VERIFY.txt
	run -0 minisign -Vm x/checkpoint.txt -p x/host.pub
}

@test 'airlock-verify checks an export with nothing else installed' {
	airlock -q audit export -o evidence.tar.zst
	run -0 airlock-verify audit evidence.tar.zst --seal-key k0.txt --strict
	out_has "intact" "macs checked" "checkpoint signature valid"
	# in an empty root, with the static verifier when there is one
	v=$ROOT_DIR/build/static/airlock-verify
	[ -x "$v" ] || skip "no static build"
	mkdir root && cp "$v" evidence.tar.zst k0.txt root/
	run -0 chroot root /airlock-verify audit /evidence.tar.zst --seal-key /k0.txt
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
	run -0 airlock-verify audit run.tar.zst --seal-key k0.txt
	out_has "intact"
	tar --zstd -xf run.tar.zst -C . --wildcards 'audit-*'
	cat audit-*.jsonl | grep -q '"run":"run-t-15"'
	run -2 airlock audit export -o none.tar.zst --run no-such-run
	out_has "no audit entries in the requested range"
	[ ! -e none.tar.zst ]
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
		checkpoint.txt.minisig audit-*)
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
