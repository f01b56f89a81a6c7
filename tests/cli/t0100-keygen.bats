#!/usr/bin/env bats
# t0100-keygen: key pairs in minisign's format, encrypted or not; files
# created private and never overwritten by accident.

load ../lib/common

@test 'keygen -W writes a key pair with safe modes' {
	run -0 airlock keygen -W -p k.pub -s k.key
	out_has "Key id " "k.key" "k.pub"
	[ "$(stat -c %a k.key)" = 600 ]
	[ "$(stat -c %a k.pub)" = 644 ]
	run -0 head -1 k.pub
	[[ $output =~ ^untrusted\ comment:\ minisign\ public\ key\ [0-9A-F]{16}$ ]]
	[ "$(wc -l <k.pub)" = 2 ]
	[ "$(wc -l <k.key)" = 2 ]
}

@test 'keygen prints the key id minisign shows' {
	run -0 airlock --json keygen -W -p k.pub -s k.key
	id=$(printf '%s' "$output" | jq -r .keyid)
	[ "$(printf '%s' "$output" | jq -r .encrypted)" = false ]
	grep -q "minisign public key $id\$" k.pub
}

@test 'keygen refuses to overwrite without -f' {
	mkkey k
	cp k.key k.key.orig
	run -2 airlock keygen -W -p k.pub -s k.key
	out_has "k.pub already exists (use -f to overwrite)"
	cmp k.key k.key.orig
	run -0 airlock -q keygen -W -f -p k.pub -s k.key
	run -1 cmp -s k.key k.key.orig
}

@test 'keygen refuses to write through a symlink left at the path' {
	ln -s /etc/passwd k.pub
	run -2 airlock keygen -W -p k.pub -s k.key
	out_has "k.pub already exists"
}

@test 'keygen -c sets the public key comment' {
	run -0 airlock -q keygen -W -c 'release officer 1' -p k.pub -s k.key
	[ "$(head -1 k.pub)" = 'untrusted comment: release officer 1' ]
	run -2 airlock keygen -W -c "$(printf 'two\nlines')" -p j.pub -s j.key
	out_has "comment must be a single line"
	[ ! -e j.key ]
}

@test 'keygen needs both -p and -s' {
	run -2 airlock keygen -W -p k.pub
	out_has "both -p PUB and -s SEC are needed"
}

@test 'keygen with a passfile encrypts the key (scrypt)' {
	printf 'correct horse\n' >pass
	run -0 airlock -q keygen -p k.pub -s k.key --passfile pass
	echo data >f
	run -0 airlock sign-file -s k.key --passfile pass f
	run -0 airlock verify-file -p k.pub f
	printf 'wrong\n' >bad
	AIRLOCK_PASSFILE=bad run -3 airlock sign-file -s k.key -x other.sig f
	out_has "k.key: wrong passphrase"
	[ ! -e other.sig ]
}

@test 'keygen refuses an empty passphrase' {
	: >empty
	run -2 airlock keygen -p k.pub -s k.key --passfile empty
	out_has "empty passphrase (use -W for an unencrypted key)"
	[ ! -e k.key ] && [ ! -e k.pub ]
}

@test 'keygen names a missing passphrase file' {
	run -2 airlock keygen -p k.pub -s k.key --passfile nope
	out_has "passphrase file nope: No such file or directory"
}

@test 'keygen without a terminal or passfile says how to give one' {
	run -2 setsid -w airlock keygen -p k.pub -s k.key
	out_has "no terminal to ask for the passphrase" "--passfile"
}

@test 'keygen asks twice on the terminal and refuses a mismatch' {
	run -0 bash -c "printf 'pw\npw\n' | script -qec 'airlock keygen -p k.pub -s k.key' /dev/null"
	out_has "Passphrase: " "Passphrase (again): " "Key id"
	printf 'pw\n' >pass
	echo x >f
	run -0 airlock sign-file -s k.key --passfile pass f
	run -2 bash -c "printf 'pw\npx\n' | script -qec 'airlock keygen -p j.pub -s j.key' /dev/null"
	out_has "the passphrases do not match"
	[ ! -e j.key ]
}

@test 'keygen fails cleanly on a full disk (injected ENOSPC)' {
	AIRLOCK_FAULTS='write@1+=ENOSPC' run -4 airlock keygen -W -p k.pub -s k.key
	out_has "k.key: write: No space left on device"
	[ ! -e k.key ] && [ ! -e k.pub ]
	[ -z "$(ls -A)" ]
	AIRLOCK_FAULTS='rename@2=EIO' run -4 airlock keygen -W -p k.pub -s k.key
	out_has "k.pub: rename: " "(EIO)"
	[ -z "$(ls -A)" ]
}

@test 'keygen as an unprivileged user cannot write into a root-only directory' {
	command -v setpriv >/dev/null || skip "setpriv not available"
	mkdir locked
	chmod 0755 locked
	run -4 setpriv --reuid=65534 --regid=65534 --clear-groups airlock keygen -W -p locked/k.pub -s locked/k.key
	out_has "locked/k.key: cannot create temporary file: Permission denied"
}
