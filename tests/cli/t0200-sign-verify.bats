#!/usr/bin/env bats
# t0200-sign-verify: sign-file and verify-file, and every tampered or
# malformed input: exit 3 when verification fails, 2 when the input cannot
# be read as a key or signature, always naming the file.

load ../lib/common

setup() {
	common_setup
	mkkey k
	printf 'the quick brown fox\n' >msg
	airlock sign-file -s k.key -t 'release 42 approved' msg
}

@test 'a signed file verifies and shows its trusted comment' {
	run -0 airlock verify-file -p k.pub msg
	[ "$output" = "$(printf 'Signature and comment signature verified\nTrusted comment: release 42 approved')" ]
}

@test 'the default trusted comment is the one minisign writes' {
	airlock sign-file -s k.key -x d.sig msg
	run -0 sed -n 3p d.sig
	tab=$'\t'
	[[ $output =~ ^trusted\ comment:\ timestamp:[0-9]+${tab}file:msg${tab}hashed$ ]]
}

@test 'verify-file --json reports key id, algorithm and comment' {
	run -0 airlock --json verify-file -p k.pub msg
	[ "$(printf '%s' "$output" | jq -r .algorithm)" = ED ]
	[ "$(printf '%s' "$output" | jq -r .trusted_comment)" = 'release 42 approved' ]
	grep -q "$(printf '%s' "$output" | jq -r .keyid)" k.pub
}

@test 'verify-file -q prints nothing on success' {
	run -0 airlock -q verify-file -p k.pub msg
	[ -z "$output" ]
}

@test 'sign-file signs several files, and -x names one signature' {
	echo a >a; echo b >b
	run -0 airlock sign-file -s k.key a b
	airlock verify-file -p k.pub a
	airlock verify-file -p k.pub b
	run -0 airlock sign-file -s k.key -x sig.x a
	airlock verify-file -p k.pub -x sig.x a
	run -2 airlock sign-file -s k.key -x sig.x a b
	out_has "-x SIG takes a single file"
}

@test 'sign-file of a missing file names it and signs the others' {
	echo a >a
	run -2 airlock sign-file -s k.key nope a
	out_has "nope: No such file or directory"
	[ -e a.minisig ]
}

@test 'a flipped byte anywhere in the file is caught (exit 3)' {
	size=$(size_of msg)
	for off in 0 $((size / 2)) $((size - 1)); do
		cp msg m2; cp msg.minisig m2.minisig
		flip_byte m2 "$off"
		run -3 airlock verify-file -p k.pub m2
		out_has "m2.minisig: signature verification failed"
	done
}

@test 'an appended byte or a truncated file is caught (exit 3)' {
	cp msg.minisig m2.minisig
	cp msg m2; printf x >>m2
	run -3 airlock verify-file -p k.pub m2
	cp msg m2; truncate_to m2 5
	run -3 airlock verify-file -p k.pub m2
	out_has "signature verification failed"
}

@test 'a changed byte in the signature is caught (exit 3)' {
	swap_b64_char msg.minisig 2 40
	run -3 airlock verify-file -p k.pub msg
	out_has "msg.minisig: signature verification failed"
}

@test 'a changed key id in the signature is caught before the signature math' {
	swap_b64_char msg.minisig 2 6
	run -3 airlock verify-file -p k.pub msg
	out_has "msg.minisig: signature key id" "does not match the public key id"
}

@test 'a changed trusted comment is caught (exit 3)' {
	replace_line msg.minisig 3 'trusted comment: release 43 approved'
	run -3 airlock verify-file -p k.pub msg
	out_has "msg.minisig: comment signature verification failed"
	run -3 airlock verify-file -p k.pub msg
	# a flipped byte inside the comment, by offset
	airlock sign-file -s k.key -t 'release 42 approved' msg
	flip_byte msg.minisig $(( $(offset_of_line msg.minisig 3) + 20 )) 2
	run -3 airlock verify-file -p k.pub msg
	out_has "comment signature verification failed"
}

@test 'a changed global signature is caught (exit 3)' {
	swap_b64_char msg.minisig 4 10
	run -3 airlock verify-file -p k.pub msg
	out_has "comment signature verification failed"
}

@test 'the wrong public key is refused (exit 3)' {
	mkkey other
	run -3 airlock verify-file -p other.pub msg
	out_has "msg.minisig: signature key id"
}

@test 'a missing signature or key names the file (exit 2)' {
	rm msg.minisig
	run -2 airlock verify-file -p k.pub msg
	out_has "msg.minisig: No such file or directory"
	run -2 airlock verify-file -p nope.pub msg
	out_has "nope.pub: No such file or directory"
}

@test 'malformed public keys exit 2 naming the file' {
	key=$(line_of k.pub 2)
	printf 'untrusted comment: x\n' >trunc.pub
	printf 'untrusted comment: x\n%s\n' "${key%????}" >short.pub
	printf 'untrusted comment: x\n%sAAAA\n' "$key" >long.pub
	printf 'untrusted comment: x\n%s\n' "${key%?}*" >nonb64.pub
	printf 'untrusted comment: x\n%s\n' "RX${key#RW}" >alg.pub
	printf 'no comment\n%s\n' "$key" >nocomment.pub
	printf 'untrusted comment: x\n%s\ntrailing\n' "$key" >trail.pub
	printf 'untrusted comment: x\000y\n%s\n' "$key" >nul.pub
	head -c 100000 /dev/zero >huge.pub
	for f in trunc short long nonb64 alg nocomment trail nul huge; do
		run -2 airlock verify-file -p $f.pub msg
		out_has "$f.pub"
	done
	run -2 airlock verify-file -p alg.pub msg
	out_has "unsupported signature algorithm"
	run -2 airlock verify-file -p huge.pub msg
	out_has "larger than"
}

@test 'malformed signatures exit 2 naming the file' {
	head -n 3 msg.minisig >trunc.sig
	{ line_of msg.minisig 1; printf '%s\n' "$(line_of msg.minisig 2)AAAA"; sed -n 3,4p msg.minisig; } >long.sig
	{ line_of msg.minisig 1; line_of msg.minisig 2 | sed 's/^RU/RX/'; sed -n 3,4p msg.minisig; } >alg.sig
	{ line_of msg.minisig 1; line_of msg.minisig 2 | sed 's/^\(.\{10\}\)./\1!/'; sed -n 3,4p msg.minisig; } >nonb64.sig
	{ sed -n 1,2p msg.minisig; printf 'trusted comment: %09000d\n' 0; line_of msg.minisig 4; } >longtc.sig
	{ cat msg.minisig; echo extra; } >trail.sig
	for f in trunc long alg nonb64 longtc trail; do
		run -2 airlock verify-file -p k.pub -x $f.sig msg
		out_has "$f.sig"
	done
	run -2 airlock verify-file -p k.pub -x alg.sig msg
	out_has "unsupported signature algorithm"
}

@test 'malformed secret keys exit 2 naming the file' {
	key=$(line_of k.key 2)
	printf 'untrusted comment: x\n%s\n' "${key%????}" >short.key
	printf 'untrusted comment: x\n%s\n' "$(printf '%s' "$key" | sed 's/^RWQAAEIy/RWRYWEIy/')" >kdf.key
	for f in short kdf; do
		run -2 airlock sign-file -s $f.key msg
		out_has "$f.key"
	done
	run -2 airlock sign-file -s kdf.key msg
	out_has "unsupported key derivation function"
}

@test 'an encrypted secret key with a corrupted body fails its checksum (exit 3)' {
	printf 'pw\n' >pass
	airlock -q keygen -p e.pub -s e.key --passfile pass
	swap_b64_char e.key 2 100
	run -3 airlock sign-file -s e.key --passfile pass msg
	out_has "e.key: wrong passphrase (or corrupted key: checksum mismatch)"
}

@test 'a signature is written atomically: a full disk leaves the old one' {
	cp msg.minisig before
	AIRLOCK_FAULTS='write@1+=ENOSPC' run -4 airlock sign-file -s k.key -t other msg
	out_has "msg.minisig: write: No space left on device"
	cmp msg.minisig before
	[ "$(find . -mindepth 1 | sort | tr '\n' ' ')" = "./before ./k.key ./k.pub ./msg ./msg.minisig " ]
}

@test 'verify-file -P takes the key as its base64 line' {
	run -0 airlock verify-file -P "$(line_of k.pub 2)" msg
	run -2 airlock verify-file -P 'RWQ!' msg
	out_has "invalid base64"
	run -2 airlock verify-file -p k.pub -P "$(line_of k.pub 2)" msg
	out_has "one of -p PUBFILE or -P PUBKEY"
}

@test 'airlock-verify sig verifies like verify-file' {
	run -0 airlock-verify sig -p k.pub msg
	out_has "Trusted comment: release 42 approved"
	flip_byte msg 3
	run -3 airlock-verify sig -p k.pub msg
	out_has "airlock-verify: msg.minisig: signature verification failed"
}
