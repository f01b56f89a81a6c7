#!/usr/bin/env bats
# t3200-bundle-hostile: bundles crafted to attack the installer. Each is
# rejected with exit 3 and a message naming the member; no byte is written
# outside the private directory, which is removed; the refusal is audited.

# shellcheck disable=SC2046 # $(members) and $(sigs) are lists of member names

load ../lib/common
load ../fixtures/bundle

setup() {
	common_setup
	mkhome
	officers
	mkpipe pipe
	signed pipe good.tar.zst
	stage good.tar.zst
	touch marker
	sleep 0.01
}

# rejected BUNDLE TEXT...: install exits 3 with TEXT, leaves nothing.
rejected() {
	local b=$1
	shift
	run -3 airlock install "$b"
	out_has "$@"
	nothing_left
	run -0 jq -r 'select(.event == "bundle.rejected") | .reason' home/audit/audit-000001.jsonl
	[ -n "$output" ]
}

# nothing_left: no temporary directory, nothing installed, and no file
# anywhere newer than the marker but the audit log and its lock.
nothing_left() {
	[ -z "$(find home/bundles -mindepth 1 2>/dev/null)" ] || { find home/bundles >&2; return 1; }
	[ ! -e home/pipelines/demo ]
	new=$(find home /tmp/airlock-evil-* -newer marker \( -type f -o -type l \) 2>/dev/null |
		grep -v -e '^home/audit/' || true)
	[ -z "$new" ] || { echo "written: $new" >&2; return 1; }
}

@test 'the untouched bundle installs' {
	run -0 airlock install good.tar.zst
	out_has "installed demo version 1"
}

@test 'path traversal: ../ and a/../../ are rejected' {
	retar evil1.tar.zst -P --transform 's,^data/input.csv$,../evil,' -- $(members)
	rejected evil1.tar.zst "../evil: an absolute or climbing path"
	[ ! -e home/bundles/evil ] && [ ! -e home/evil ]
	retar evil2.tar.zst -P --transform 's,^data/input.csv$,data/../../evil,' -- $(members)
	rejected evil2.tar.zst "data/../../evil: an absolute or climbing path"
}

@test 'an absolute path is rejected' {
	retar evil.tar.zst -P --transform "s,^data/input.csv\$,/tmp/airlock-evil-$$," -- $(members)
	rejected evil.tar.zst "/tmp/airlock-evil-$$: an absolute or climbing path"
	[ ! -e "/tmp/airlock-evil-$$" ]
}

@test 'symbolic links, inside and escaping, are rejected' {
	rm stage/data/input.csv
	ln -s ../bin/hello stage/data/input.csv
	retar evil.tar.zst -- $(members)
	rejected evil.tar.zst "data/input.csv: a symbolic link: only regular files"
	ln -sf /etc/passwd stage/data/input.csv
	retar evil2.tar.zst -- $(members)
	rejected evil2.tar.zst "data/input.csv: a symbolic link"
}

@test 'hard links, inside and escaping, are rejected' {
	rm stage/data/input.csv
	ln stage/bin/count stage/data/input.csv
	retar evil.tar.zst -- manifest.json $(sigs) bin/count bin/hello data/input.csv
	rejected evil.tar.zst "data/input.csv: a hard link"
	# a hard link naming a file outside the bundle
	retar evil2.tar.zst -P --transform 's,^bin/count$,../../etc/passwd,RSh' -- \
		manifest.json $(sigs) bin/count bin/hello data/input.csv
	run -0 tar -P --zstd -tvf evil2.tar.zst
	out_has "data/input.csv link to ../../etc/passwd"
	rejected evil2.tar.zst "data/input.csv: a hard link"
}

@test 'a device and a FIFO are rejected' {
	[ "$(id -u)" = 0 ] || skip "mknod needs root"
	rm stage/data/input.csv
	mknod stage/data/input.csv c 1 3
	retar evil.tar.zst -- $(members)
	rejected evil.tar.zst "data/input.csv: a character device"
	rm stage/data/input.csv
	mkfifo stage/data/input.csv
	retar evil2.tar.zst -- $(members)
	rejected evil2.tar.zst "data/input.csv: a FIFO"
}

@test 'setuid, setgid and sticky bits are rejected' {
	for mode in 4755 2755 1755; do
		chmod "$mode" stage/bin/hello
		retar "evil-$mode.tar.zst" -- $(members)
		rejected "evil-$mode.tar.zst" "bin/hello: a setuid, setgid or sticky bit"
	done
}

@test 'a duplicate member is rejected' {
	retar evil.tar.zst --hard-dereference -- $(members) data/input.csv
	rejected evil.tar.zst "data/input.csv: a duplicate member"
	retar evil2.tar.zst --hard-dereference -- $(members) manifest.json
	rejected evil2.tar.zst "manifest.json: a duplicate member"
}

@test 'a member not in the manifest is rejected' {
	echo extra >stage/data/extra.csv
	retar evil.tar.zst -- $(members) data/extra.csv
	rejected evil.tar.zst "data/extra.csv: not in the manifest"
}

@test 'manifest.json not first is rejected' {
	retar evil.tar.zst -- bin/count manifest.json $(sigs) bin/hello data/input.csv
	rejected evil.tar.zst "bin/count: the first member must be manifest.json"
}

@test 'a missing file is rejected' {
	retar evil.tar.zst -- manifest.json $(sigs) bin/count bin/hello
	rejected evil.tar.zst "data/input.csv: missing from the bundle"
	retar evil2.tar.zst -- manifest.json $(sigs) bin/count data/input.csv
	rejected evil2.tar.zst "data/input.csv: out of the manifest's order"
}

@test 'a wrong size, a wrong hash, a file larger than declared' {
	printf 'a,b\n1,\n' >stage/data/input.csv
	retar evil1.tar.zst -- $(members)
	rejected evil1.tar.zst "data/input.csv: not the 8 bytes the manifest declares"
	printf 'a,b\n1,9\n' >stage/data/input.csv
	retar evil2.tar.zst -- $(members)
	rejected evil2.tar.zst "data/input.csv: SHA-256 differs from the manifest"
	head -c 100000 /dev/zero >stage/data/input.csv
	retar evil3.tar.zst -- $(members)
	rejected evil3.tar.zst "data/input.csv: larger than the 8 bytes the manifest declares"
}

@test 'a bundle over --max-size is rejected before its files are read' {
	run -3 airlock install --max-size 50 good.tar.zst
	out_has "bytes of files, over the limit of 50 (--max-size)"
	nothing_left
}

@test 'a zstd bomb: 2 GiB of zeros where 8 bytes are declared' {
	rm stage/data/input.csv
	truncate -s 2G stage/data/input.csv
	retar bomb.tar.zst -- $(members)
	[ "$(size_of bomb.tar.zst)" -lt 1000000 ]
	rejected bomb.tar.zst "data/input.csv: larger than the 8 bytes the manifest declares"
	# and 2 GiB of zeros after the archive's end
	truncate -s 0 stage/data/input.csv
	cp pipe/data/input.csv stage/data/input.csv
	tar --format=pax --owner=0 --group=0 --numeric-owner -C stage -cf t.tar $(members)
	truncate -s +2G t.tar
	zstd -q -f --rm t.tar -o bomb2.tar.zst
	rejected bomb2.tar.zst "data after the end of the archive"
}

@test 'a zstd frame that needs a window over 128 MiB is refused' {
	tar --format=pax --owner=0 --group=0 --numeric-owner -C stage -cf - $(members) |
		zstd -q --long=30 -c >window.tar.zst
	rejected window.tar.zst "Frame requires too much memory"
}

@test 'a tar with a truncated last block is rejected' {
	tar --format=pax --owner=0 --group=0 --numeric-owner -C stage -cf t.tar $(members)
	size=$(size_of t.tar)
	# cut inside the last member's data block
	tar --format=pax -tvf t.tar >/dev/null
	head -c $((size - 10240 + 600)) t.tar >cut.tar
	zstd -q -f cut.tar -o cut.tar.zst
	rejected cut.tar.zst "Truncated"
}

@test 'garbage after the archive is rejected, inside or after the zstd stream' {
	tar --format=pax --owner=0 --group=0 --numeric-owner -C stage -cf t.tar $(members)
	printf 'GARBAGE' >>t.tar
	zstd -q -f t.tar -o garbage1.tar.zst
	rejected garbage1.tar.zst "data after the end of the archive"
	cp good.tar.zst garbage2.tar.zst
	printf 'GARBAGE AFTER THE FRAME' >>garbage2.tar.zst
	rejected garbage2.tar.zst "zstd"
}

@test 'a corrupt compressed stream and a non-bundle are rejected' {
	cp good.tar.zst corrupt.tar.zst
	flip_byte corrupt.tar.zst $(( $(size_of corrupt.tar.zst) / 2 ))
	run -3 airlock install corrupt.tar.zst
	nothing_left
	printf 'not a bundle' | zstd -q -c >junk.tar.zst
	run -3 airlock install junk.tar.zst
	run -2 airlock install no-such.tar.zst
	out_has "no-such.tar.zst: No such file or directory"
}
