#!/usr/bin/env bats
# t9220-deb: `make deb` builds a lintian-clean Debian package of the static
# binaries in Debian's layout, reproducibly; the installer and maintainer
# scripts pass shellcheck.

load ../lib/common
load kit

setup() {
	common_setup
	export SOURCE_DATE_EPOCH=1764000000
}

make_deb() {
	make -C "$ROOT_DIR" --no-print-directory deb DEB_DIR="$PWD/$1" DEB_OUT="$PWD/$1.deb"
}

@test 'make deb: the files in Debian layout, owned by root, the scripts executable' {
	run -0 make_deb a
	v=$(kit_version)
	run -0 dpkg-deb -f a.deb Package Version Architecture
	out_has "Package: airlock" "Version: $v" "Architecture: amd64"
	run -0 dpkg-deb -c a.deb
	out_has "-rwxr-xr-x root/root" "./usr/bin/airlock" "./usr/bin/airlock-verify" \
		"./usr/share/doc/airlock/copyright" "./usr/share/doc/airlock/changelog.gz" \
		"./usr/share/lintian/overrides/airlock"
	for f in "$ROOT_DIR"/packaging/man/*.[15]; do
		[ -e "$f" ] || continue
		out_has "./usr/share/man/man${f##*.}/${f##*/}.gz"
	done
	for f in "$ROOT_DIR"/packaging/systemd/*.service "$ROOT_DIR"/packaging/systemd/*.timer \
		"$ROOT_DIR"/packaging/systemd/*.path; do
		[ -e "$f" ] || continue
		out_has "./lib/systemd/system/${f##*/}"
	done
	if [ -f "$ROOT_DIR/packaging/completion/airlock" ]; then
		out_has "./usr/share/bash-completion/completions/airlock"
	fi
	# nothing owned by the builder, nothing outside the layout
	bad=$(dpkg-deb -c a.deb | grep -v ' root/root ' || true)
	[ -z "$bad" ] || { echo "$bad"; false; }
	bad=$(dpkg-deb -c a.deb | awk '{ print $6 }' | grep -vE '^\./($|lib/($|systemd/)|usr/($|bin/|share/(man/|doc/airlock/|doc/$|bash-completion/|lintian/|$)))' || true)
	[ -z "$bad" ] || { echo "unexpected: $bad"; false; }
	mkdir x
	dpkg-deb -x a.deb x
	cmp x/usr/bin/airlock "$AIRLOCK_BUILD/airlock"
	if [ -f x/lib/systemd/system/airlock@.service ]; then
		grep -q '^ExecStart=/usr/bin/airlock ' x/lib/systemd/system/airlock@.service
	fi
	run -0 dpkg-deb -I a.deb
	out_has "postinst" "postrm" "md5sums"
}

@test 'make deb twice with one SOURCE_DATE_EPOCH gives identical bytes' {
	run -0 make_deb a
	run -0 make_deb b
	cmp a.deb b.deb
}

@test 'lintian: no error or warning that packaging/lintian-overrides does not justify' {
	command -v lintian >/dev/null || skip "lintian is not installed"
	run -0 make_deb a
	run lintian --fail-on error,warning --tag-display-limit 0 a.deb
	echo "$output"
	[ "$status" -eq 0 ]
	out_lacks "E: "
	out_lacks "W: "
}

@test 'postrm purge keeps the audit log; postinst makes the home 0700' {
	grep -q 'kept' "$ROOT_DIR/packaging/deb/postrm"
	run -1 grep -qE 'rm -r|deluser|userdel' "$ROOT_DIR/packaging/deb/postrm"
	# shellcheck disable=SC2016 # the script's own text
	grep -qF 'chmod 0700 "$home"' "$ROOT_DIR/packaging/deb/postinst"
}

@test 'shellcheck: install.sh, the maintainer scripts, the kit and deb builders, these tests' {
	command -v shellcheck >/dev/null || skip "shellcheck is not installed"
	run -0 shellcheck -s sh "$ROOT_DIR/packaging/install.sh" "$ROOT_DIR/packaging/deb/postinst" \
		"$ROOT_DIR/packaging/deb/postrm"
	run -0 shellcheck "$ROOT_DIR/packaging/mkkit" "$ROOT_DIR/packaging/mkdeb"
	run -0 shellcheck -x -s bash "$ROOT_DIR/tests/kit/kit.bash"
	run -0 shellcheck -x "$ROOT_DIR"/tests/kit/*.bats
}
