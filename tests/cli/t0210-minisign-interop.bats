#!/usr/bin/env bats
# t0210-minisign-interop: keys and signatures cross both ways between
# airlock and Debian's minisign 0.11, trusted comments included.

load ../lib/common

setup() {
	common_setup
	command -v minisign >/dev/null || skip "minisign is not installed (make deps)"
	printf 'payload for interop\n' >file
}

@test 'an airlock -W key signs what minisign -V accepts' {
	mkkey a
	airlock sign-file -s a.key -t 'from airlock' file
	run -0 minisign -Vm file -p a.pub
	out_has "Trusted comment: from airlock"
}

@test 'an encrypted airlock key signs what minisign -V accepts' {
	printf 'secret words\n' >pass
	airlock -q keygen -p a.pub -s a.key --passfile pass
	airlock sign-file -s a.key --passfile pass -t 'encrypted airlock key' file
	run -0 minisign -Vm file -p a.pub
	out_has "Trusted comment: encrypted airlock key"
	# and minisign can use airlock's encrypted secret key
	printf 'secret words\n' | minisign -S -s a.key -m file -x by-minisign.sig -t 'minisign with airlock key' >/dev/null
	run -0 airlock verify-file -p a.pub -x by-minisign.sig file
	out_has "Trusted comment: minisign with airlock key"
}

@test 'a minisign -GW key and signature verify with airlock' {
	minisign -GW -p m.pub -s m.key >/dev/null
	minisign -S -s m.key -m file -t 'from minisign' >/dev/null
	run -0 airlock verify-file -p m.pub file
	out_has "Trusted comment: from minisign"
	# airlock shows the key id that minisign wrote in the comment (minisign
	# writes it there without leading zeros; airlock always shows 16 digits)
	id=$(sed -n 's/^untrusted comment: minisign public key //p' m.pub)
	run -0 airlock --json verify-file -p m.pub file
	keyid=$(printf '%s' "$output" | jq -r .keyid)
	[[ $keyid =~ ^[0-9A-F]{16}$ ]]
	[ "$(printf '%s' "$keyid" | sed 's/^0*//')" = "$(printf '%s' "$id" | sed 's/^0*//')" ]
}

@test 'an encrypted minisign key signs with airlock' {
	printf 'pw\npw\n' | minisign -G -p m.pub -s m.key >/dev/null
	printf 'pw\n' >pass
	airlock sign-file -s m.key --passfile pass -t 'airlock with minisign key' file
	run -0 minisign -Vm file -p m.pub
	out_has "Trusted comment: airlock with minisign key"
	printf 'nope\n' >bad
	run -3 airlock sign-file -s m.key --passfile bad -x x.sig file
	out_has "wrong passphrase"
}

@test 'a legacy (Ed) minisign signature verifies with airlock' {
	minisign -GW -p m.pub -s m.key >/dev/null
	minisign -S -l -s m.key -m file -t 'legacy' >/dev/null
	run -0 airlock --json verify-file -p m.pub file
	[ "$(printf '%s' "$output" | jq -r .algorithm)" = Ed ]
	flip_byte file 2
	run -3 airlock verify-file -p m.pub file
}

@test 'minisign rejects what airlock rejects: a tampered airlock signature' {
	mkkey a
	airlock sign-file -s a.key file
	flip_byte file 0
	run -3 airlock verify-file -p a.pub file
	run ! minisign -Vm file -p a.pub
}

@test 'minisign -P and airlock -P take the same base64 key' {
	minisign -GW -p m.pub -s m.key >/dev/null
	minisign -S -s m.key -m file >/dev/null
	run -0 airlock verify-file -P "$(sed -n 2p m.pub)" file
}
