#!/usr/bin/env bats
# t9000-static-binary: the binaries `make static` builds have no dynamic
# dependencies, say how they were built, and work in an empty root.

load ../lib/common

setup() {
	common_setup
	static=$ROOT_DIR/build/static
	[ -x "$static/airlock" ] || skip "no static build (make static)"
}

@test 'file and ldd show no dynamic dependency' {
	for b in airlock airlock-verify; do
		run -0 file "$static/$b"
		out_has "static-pie linked"
		out_lacks "interpreter"
		run ldd "$static/$b"
		out_lacks "=>"
		out_has "statically linked"
	done
}

@test 'version --verbose records the build and the SHA-256 of the lock' {
	run -0 "$static/airlock" version --verbose
	out_has "build: static, musl-gcc" "vendor/lock sha256 $(sha256sum "$ROOT_DIR/vendor/lock" | cut -d' ' -f1)"
	out_has "build flags: " "-static-pie"
	run -0 "$static/airlock" --json version --verbose
	[ "$(printf '%s' "$output" | jq -r '.libraries.libcrypto')" != null ]
}

@test 'the static binary verifies a signature inside an empty root' {
	mkkey k
	echo 'evidence' >file
	airlock sign-file -s k.key file
	mkdir root
	cp "$static/airlock" root/airlock
	cp k.pub file file.minisig root/
	[ "$(find root | wc -l)" = 5 ] # nothing but the binary and the files
	run -0 chroot root /airlock verify-file -p /k.pub /file
	out_has "Signature and comment signature verified"
	echo 'changed' >root/file
	run -3 chroot root /airlock verify-file -p /k.pub /file
	out_has "/file.minisig: signature verification failed"
}

@test 'the static binary works in an empty root as an unprivileged user' {
	command -v unshare >/dev/null || skip "unshare is missing"
	mkkey k
	echo 'evidence' >file
	airlock sign-file -s k.key file
	mkdir root
	cp "$static/airlock" k.pub file file.minisig root/
	chmod -R a+rX root
	# A user namespace (mapped root) with the empty root as /, entered by
	# `nobody`: no /etc/passwd, no /dev, no /proc, no libraries.
	run setpriv --reuid=65534 --regid=65534 --clear-groups unshare -r -R root /airlock verify-file -p /k.pub /file
	if [ "$status" -ne 0 ] && [[ $output == *"unshare failed"* ]]; then
		skip "unprivileged user namespaces are disabled here"
	fi
	[ "$status" -eq 0 ]
	out_has "Signature and comment signature verified"
}

@test 'the static binary signs and keygens with no /dev/urandom' {
	mkdir root
	cp "$static/airlock" root/airlock
	run -0 chroot root /airlock -q keygen -W -p /k.pub -s /k.key
	echo 'x' >root/f
	run -0 chroot root /airlock sign-file -s /k.key /f
	run -0 airlock verify-file -p root/k.pub root/f
}
