#!/usr/bin/env bats
# t0000-basic: the command layer: version, help, dispatch, usage errors,
# exit codes, and output errors.

load ../lib/common

@test 'airlock version prints the version' {
	run -0 airlock version
	[[ $output =~ ^airlock\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test 'airlock --json version is one JSON object' {
	run -0 airlock --json version --verbose
	[ "$(printf '%s' "$output" | jq -r .program)" = airlock ]
	[ "$(printf '%s' "$output" | jq -r '.libraries | keys | join(",")')" = \
	  "jansson,libarchive,libcrypto,libcsv,libsodium,sqlite,zstd" ]
}

@test 'airlock version --verbose names each library' {
	run -0 airlock version --verbose
	out_has libsodium OpenSSL jansson sqlite libarchive zstd libcsv
}

@test 'airlock with no command prints usage and exits 2' {
	run -2 airlock
	out_has "usage: airlock" keygen sign-file verify-file sha256
}

@test 'an unknown command exits 2 naming it' {
	run -2 airlock frobnicate
	out_has "unknown command 'frobnicate'"
}

@test 'an unknown global option exits 2' {
	run -2 airlock --frob version
	out_has "unknown global option --frob"
}

@test 'an unknown command option exits 2 with the usage line' {
	run -2 airlock keygen -Z
	out_has "airlock keygen: unknown option -Z" "usage: airlock keygen -p PUB"
}

@test 'an option without its value exits 2 naming it' {
	run -2 airlock keygen -W -p
	out_has "option -p needs a value"
	run -2 airlock sign-file --passfile
	out_has "option --passfile needs a value"
}

@test 'every command has --help and exits 0' {
	for cmd in version keygen sign-file verify-file sha256; do
		run -0 airlock "$cmd" --help
		out_has "usage: airlock $cmd"
	done
	run -0 airlock help keygen
	out_has "usage: airlock keygen"
	run -0 airlock --help
	out_has "commands:"
}

@test 'airlock-verify has its own commands' {
	run -0 airlock-verify --help
	out_has "usage: airlock-verify" "sig "
	run -2 airlock-verify keygen
	out_has "unknown command 'keygen'"
}

@test 'a failed write to standard output exits 4' {
	run -4 bash -c 'airlock version --verbose >/dev/full'
	out_has "error writing standard output"
}

@test 'a malformed AIRLOCK_FAULTS exits 2' {
	AIRLOCK_FAULTS=bogus run -2 airlock version
	out_has "AIRLOCK_FAULTS"
}
