#!/usr/bin/env bats
# t3100-bundle-pack-sign: pack is deterministic and refuses what a bundle
# cannot hold; sign replaces a key's signature; memory stays flat.

# shellcheck disable=SC2046 # $(members) and $(sigs) are lists of member names

load ../lib/common
load ../fixtures/bundle

setup() {
	common_setup
	mkpipe pipe
}

@test 'a bundle packed twice is byte-identical, and in another directory too' {
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack pipe -o a.tar.zst
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack pipe -o b.tar.zst
	cmp a.tar.zst b.tar.zst
	cp -a pipe elsewhere
	touch -d '2001-01-01' elsewhere/bin/hello
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack elsewhere -o c.tar.zst
	cmp a.tar.zst c.tar.zst
	SOURCE_DATE_EPOCH=1764000001 airlock -q pack pipe -o d.tar.zst
	run -1 cmp -s a.tar.zst d.tar.zst
}

@test 'the manifest lists every file sorted, with hash, size and mode' {
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack pipe -o b.tar.zst
	airlock manifest b.tar.zst >m.json
	run -0 jq -r '.files[] | [.path, .size, .mode] | @tsv' m.json
	[ "$output" = "$(printf 'bin/count\t22\t0755\nbin/hello\t45\t0755\ndata/input.csv\t8\t0644')" ]
	[ "$(jq -r '.files[2].sha256' m.json)" = "$(sha256sum <pipe/data/input.csv | cut -c1-64)" ]
	[ "$(jq -r .created m.json)" = 2025-11-24T16:00:00Z ]
	[ "$(jq -r 'keys_unsorted | .[-2:] | join(",")' m.json)" = created,files ]
	# stock tools read it
	run -0 tar --zstd -tvf b.tar.zst
	out_has "0/0" "manifest.json"
}

@test 'pack refuses symlinks, FIFOs, devices and unreadable files, named' {
	ln -s data/input.csv pipe/link
	run -2 airlock pack pipe -o b.tar.zst
	out_has "pipe/link: a symbolic link: a bundle holds regular files only"
	rm pipe/link
	mkfifo pipe/fifo
	run -2 airlock pack pipe -o b.tar.zst
	out_has "pipe/fifo: a FIFO"
	rm pipe/fifo
	if [ "$(id -u)" = 0 ]; then
		mknod pipe/dev c 1 3
		run -2 airlock pack pipe -o b.tar.zst
		out_has "pipe/dev: a device"
		rm pipe/dev
	fi
	[ ! -e b.tar.zst ]
	# unreadable, for a user who cannot read it
	cp -a pipe /tmp/airlock-pack-$$ && chmod -R a+rX /tmp/airlock-pack-$$ && chmod 600 /tmp/airlock-pack-$$/data/input.csv
	run -4 setpriv --reuid=65534 --regid=65534 --clear-groups airlock pack /tmp/airlock-pack-$$ -o /tmp/airlock-pack-$$.tar.zst
	out_has "data/input.csv: cannot read: Permission denied"
	rm -rf /tmp/airlock-pack-$$ /tmp/airlock-pack-$$.tar.zst
}

@test 'pack refuses names a bundle reserves' {
	echo '{}' >pipe/manifest.json
	run -2 airlock pack pipe -o b.tar.zst
	out_has 'files[3].path: "manifest.json": a name the bundle reserves'
	rm pipe/manifest.json
	mkdir pipe/signatures && echo x >pipe/signatures/x
	run -2 airlock pack pipe -o b.tar.zst
	out_has '"signatures/x": a name the bundle reserves'
}

@test 'a full disk while packing leaves no bundle' {
	for fault in write@1+=ENOSPC fsync@1=EIO rename@1=EIO; do
		AIRLOCK_FAULTS=$fault run -4 airlock pack pipe -o b.tar.zst
		[ ! -e b.tar.zst ]
		[ -z "$(ls b.tar.zst.tmp.* 2>/dev/null)" ]
	done
}

@test 'signing again with one key replaces its signature; the files are untouched' {
	mkhome
	officers
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack pipe -o b.tar.zst
	airlock -q sign b.tar.zst -s o1.key -t first
	airlock -q sign b.tar.zst -s o2.key
	airlock -q sign b.tar.zst -s o1.key -t second
	run -0 tar --zstd -tf b.tar.zst
	[ "${lines[0]}" = manifest.json ]
	[ "${lines[1]}" = "signatures/$(printf '%s\n' "$O1" "$O2" | sort | head -1).minisig" ]
	[ "${#lines[@]}" = 6 ]
	stage b.tar.zst
	grep -q 'trusted comment: second' "stage/signatures/$O1.minisig"
	cmp stage/data/input.csv pipe/data/input.csv
	run -0 airlock verify b.tar.zst
}

@test 'sign refuses a bundle whose manifest does not validate, and a bad signature file' {
	mkhome
	officers
	airlock -q pack pipe -o b.tar.zst
	stage b.tar.zst
	jq '.version = 0' stage/manifest.json >m && mv m stage/manifest.json
	retar bad.tar.zst -- manifest.json bin/count bin/hello data/input.csv
	run -2 airlock sign bad.tar.zst -s o1.key
	out_has "manifest.json: version: must be an integer from 1"
	echo nonsense >x.minisig
	run -2 airlock sign b.tar.zst --add x.minisig
	out_has "x.minisig"
}

@test 'verify of a 1 GiB bundle runs in constant memory' {
	mkhome
	officers
	mkdir -p pipe/big
	for i in 1 2 3 4; do head -c 268435456 /dev/urandom >"pipe/big/part$i"; done
	airlock -q pack pipe -o big.tar.zst
	airlock -q sign big.tar.zst -s o1.key
	airlock -q sign big.tar.zst -s o2.key
	rss=$(/usr/bin/time -f %M airlock -q verify big.tar.zst 2>&1 >/dev/null | tail -1)
	# over the binary's own at rest (6 MiB; 25 MiB under ASan, whose
	# shadow memory and runtime come with every process)
	base=$(/usr/bin/time -f %M airlock --version 2>&1 >/dev/null | tail -1)
	echo "peak RSS ${rss} KiB, at rest ${base} KiB" >&2
	[ $((rss - base)) -lt 26624 ]
	rm -rf pipe/big big.tar.zst
}
