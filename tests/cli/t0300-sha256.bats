#!/usr/bin/env bats
# t0300-sha256: `airlock sha256` prints exactly what sha256sum prints.

load ../lib/common

@test 'sha256 equals sha256sum for ordinary files, byte for byte' {
	printf 'abc' >abc
	head -c 3000000 /dev/urandom >random
	: >empty
	sha256sum abc random empty >want
	airlock sha256 abc random empty >got
	cmp want got
}

@test 'sha256 escapes names as sha256sum does' {
	mkdir names && cd names
	printf 1 >'back\slash'
	printf 2 >"$(printf 'new\nline')"
	printf 3 >"$(printf 'carriage\rreturn')"
	printf 4 >'sp ace'
	sha256sum ./* >../want
	airlock sha256 ./* >../got
	cmp ../want ../got
}

@test 'sha256 reads standard input with no file or -' {
	printf 'stdin data' | sha256sum >want
	printf 'stdin data' | airlock sha256 >got
	cmp want got
	printf 'stdin data' | airlock sha256 - >got
	cmp want got
}

@test 'sha256 names a missing file, goes on, and exits 2' {
	printf x >x
	run -2 airlock sha256 nope x
	out_has "airlock: nope: No such file or directory" "$(sha256sum x)"
}

@test 'sha256 of a directory fails with a message' {
	mkdir d
	run -2 airlock sha256 d
	out_has "d: read: Is a directory"
}

@test 'sha256 of a sparse file over 4 GiB equals sha256sum' {
	truncate -s 4097M big
	printf 'tail' >>big
	sha256sum big >want
	airlock sha256 big >got
	cmp want got
}
