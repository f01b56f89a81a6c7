#!/usr/bin/env bats
# t9210-kit-install: install.sh installs the kit into a scratch root only
# after SHA256SUMS and its signature verify against the key id given; a
# second run changes nothing; a kit with any byte changed, a file missing
# or added, or signed by another key is refused before anything is
# installed; --uninstall keeps the audit log.

load ../lib/common
load kit

setup_file() {
	setup_kit_file
}

@test 'install.sh installs into a scratch root, and a second run is a no-op' {
	install_kit --key-id "$KEYID" --no-user
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "signature of SHA256SUMS: verified by the kit's airlock-verify with key $KEYID" \
		"SHA256SUMS: all" "install $PWD/root/usr/local/bin/airlock" "airlock audit init"
	cmp root/usr/local/bin/airlock "$KIT/bin/airlock"
	[ "$(stat -c %a root/usr/local/bin/airlock-verify)" = 755 ]
	for f in "$KIT"/man/*.1; do
		[ -e "$f" ] || continue
		cmp "$f" "root/usr/local/share/man/man1/${f##*/}"
	done
	if [ -f "$KIT/systemd/airlock@.service" ]; then
		grep -q "^ExecStart=$PWD/root/usr/local/bin/airlock " "root/etc/systemd/system/airlock@.service"
		grep -q "^ReadWritePaths=$PWD/root/var/lib/airlock\$" "root/etc/systemd/system/airlock@.service"
	fi
	home=root/var/lib/airlock
	[ "$(stat -c %a "$home")" = 700 ]
	[ -f "$home/audit/audit-000001.jsonl" ]
	out_has "The seal public key is in $PWD/$home/seal.pub" "Nothing secret has to leave this host"
	grep -qE '^airlock.seal-pub/2 [0-9a-f]{64}$' "$home/seal.pub"
	run -0 airlock-verify audit "$home/audit" --seal-pub "$home/seal.pub"

	before=$(find root -printf '%p %s %T@ %m\n' | sort)
	install_kit --key-id "$KEYID" --no-user
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "nothing to do" "the audit log in $PWD/$home/audit exists"
	out_lacks "k0"
	out_lacks "  + "
	after=$(find root -printf '%p %s %T@ %m\n' | sort)
	[ "$before" = "$after" ]
}

@test 'the key id may be typed in lower case and in groups' {
	id=$(printf '%s' "$KEYID" | tr 'A-F' 'a-f' | sed 's/..../& /g')
	install_kit --key-id "$id" --no-user --dry-run
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "dry run"
}

@test '--dry-run verifies, prints every action and installs nothing' {
	install_kit --key-id "$KEYID" --no-user --dry-run --enable-units nightly-risk
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "(dry run) install $PWD/root/usr/local/bin/airlock" "(dry run) airlock audit init" \
		"(dry run) systemctl enable --now airlock@nightly-risk.timer" "nothing was changed"
	root_is_empty
}

@test 'a wrong --key-id is refused, and the ids in the kit are not shown' {
	install_kit --key-id 0123456789ABCDEF --no-user
	[ "$status" -eq 3 ] || { echo "$output"; false; }
	out_has "REFUSED: no key in the kit's keys/ has the id 0123456789ABCDEF" "nothing was installed"
	out_lacks "$KEYID"
	root_is_empty
	install_kit --key-id 0123 --no-user
	[ "$status" -eq 2 ]
	out_has "16 hexadecimal digits"
	install_kit --no-user
	[ "$status" -eq 2 ]
	out_has "give --key-id ID"
	root_is_empty
}

@test 'a byte changed in any file of the kit is refused before anything is installed' {
	n=0
	while IFS= read -r f; do
		rm -rf t root
		cp -R "$KIT" t
		flip_byte "t/$f" $(( $(size_of "t/$f") / 2 ))
		install_kit --kit t --key-id "$KEYID" --no-user
		if [ "$status" -ne 3 ] || [[ $output != *REFUSED* ]]; then
			echo "a byte changed in $f: status $status"
			echo "$output"
			false
		fi
		root_is_empty
		n=$((n + 1))
	done < <(cd "$KIT" && find . -type f | sed 's|^\./||' | sort)
	echo "$n files tampered with, each refused"
	[ "$n" -gt 10 ]
}

@test 'a missing file, an extra file, a link and a missing signature are refused' {
	cp -R "$KIT" t
	rm t/bin/airlock
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "bin/airlock is listed in SHA256SUMS but missing from the kit"

	rm -rf t && cp -R "$KIT" t
	echo evil >t/keys/evil.pub
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "keys/evil.pub is in the kit but not in SHA256SUMS"

	rm -rf t && cp -R "$KIT" t
	ln -s /etc/passwd t/man/evil.1
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "man/evil.1 is not a regular file"

	rm -rf t && cp -R "$KIT" t
	rm t/SHA256SUMS.minisig
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "SHA256SUMS.minisig is missing"
	root_is_empty
}

@test 'a kit re-signed by another key is refused, even with that key inside' {
	cp -R "$KIT" t
	airlock -q keygen -W -p evil.pub -s evil.key >/dev/null
	evil=$(keyid_of evil.pub)
	echo 'echo pwned' >>t/install.sh
	cp evil.pub "t/keys/release-$evil.pub"
	(cd t && find . -type f ! -name 'SHA256SUMS*' | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS)
	airlock -q sign-file -s evil.key -x t/SHA256SUMS.minisig t/SHA256SUMS >/dev/null
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "does not verify with key $KEYID"
	root_is_empty
}

@test 'a lying airlock-verify is caught by minisign' {
	command -v minisign >/dev/null || skip "minisign is not installed"
	cp -R "$KIT" t
	printf '#!/bin/sh\nexit 0\n' >t/bin/airlock-verify
	echo 'changed' >>t/vendor/lock
	(cd t && find . -type f ! -name 'SHA256SUMS*' | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS)
	install_kit --kit t --key-id "$KEYID" --no-user
	[ "$status" -eq 3 ]
	out_has "minisign does not verify the signature that airlock-verify accepted"
	root_is_empty
}

@test '--uninstall removes the binaries, pages and units, and keeps the home and its audit log' {
	install_kit --key-id "$KEYID" --no-user
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	log=root/var/lib/airlock/audit/audit-000001.jsonl
	sum=$(sha256sum <"$log")
	install_kit --uninstall --no-user
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "remove $PWD/root/usr/local/bin/airlock" "kept: $PWD/root/var/lib/airlock"
	[ ! -e root/usr/local/bin/airlock ]
	[ ! -e root/usr/local/bin/airlock-verify ]
	[ -z "$(find root/usr/local root/etc -type f)" ]
	[ "$(sha256sum <"$log")" = "$sum" ]
	[ -f root/var/lib/airlock/host.key ] || [ -n "$(ls root/var/lib/airlock)" ]
	# and a second uninstall has nothing to do
	install_kit --uninstall --no-user
	[ "$status" -eq 0 ]
	out_lacks "  + "
}

@test 'as root: the system user is created, owns the home, and runs audit init' {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	command -v useradd >/dev/null || skip "no useradd"
	user=alkit$$
	# a root that the new user can traverse (bats' own directories are 0700)
	base=$(mktemp -d /tmp/airlock-kit-test.XXXXXX)
	chmod 0755 "$base"
	echo "$user $base" >"$BATS_TEST_TMPDIR/cleanup"
	run "$KIT/install.sh" --prefix "$base/usr/local" --home "$base/var/lib/airlock" \
		--unitdir "$base/etc/systemd/system" --yes --key-id "$KEYID" --user "$user" --step-user "${user}s"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "create system user $user" "airlock audit init (as $user)" "create system user ${user}s"
	[ "$(getent passwd "${user}s" | cut -d: -f6,7)" = "/nonexistent:$(command -v nologin || echo /usr/sbin/nologin)" ]
	[ "$(stat -c '%U %a' "$base/var/lib/airlock")" = "$user 700" ]
	[ "$(stat -c %U "$base/var/lib/airlock/audit/audit-000001.jsonl")" = "$user" ]
	grep -q "^User=$user\$" "$base/etc/systemd/system/airlock@.service" ||
		[ ! -f "$KIT/systemd/airlock@.service" ]
	[ "$(getent passwd "$user" | cut -d: -f7)" = "$(command -v nologin || echo /usr/sbin/nologin)" ]
	run "$KIT/install.sh" --prefix "$base/usr/local" --home "$base/var/lib/airlock" \
		--unitdir "$base/etc/systemd/system" --yes --key-id "$KEYID" --user "$user" --step-user "${user}s"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out_has "user $user exists" "user ${user}s exists" "nothing to do"
	out_lacks "  + "
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/cleanup" ]; then
		read -r user base <"$BATS_TEST_TMPDIR/cleanup"
		userdel "$user" 2>/dev/null || true
		userdel "${user}s" 2>/dev/null || true
		rm -rf "$base"
	fi
}
