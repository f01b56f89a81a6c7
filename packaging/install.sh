#!/bin/sh
# install.sh - installs airlock from the USB kit, after checking every file
# of the kit against SHA256SUMS and SHA256SUMS's signature against the
# release key whose id the operator reads from paper (DESIGN.md §10).
#
# usage: sh install.sh [--key-id ID] [OPTIONS]        (as root)
#        sh install.sh --uninstall [OPTIONS]
#
#   --key-id ID          the release key id (16 hex digits) as printed on the
#                        paper handed over with the kit; asked for on a
#                        terminal when not given. Never take it from the kit.
#   --prefix DIR         where binaries, man pages and completion go
#                        (default /usr/local)
#   --home DIR           AIRLOCK_HOME (default /var/lib/airlock)
#   --unitdir DIR        where the systemd units go (default /etc/systemd/system)
#   --user NAME          the system user airlock runs as (default airlock)
#   --step-user NAME     the system user steps run as when airlock runs as
#                        root (default airlock-step; no home, no shell, a
#                        group of its own; airlock run --step-user NAME then)
#   --no-user            create no user; AIRLOCK_HOME belongs to whoever runs this
#   --seal-pub-out FILE  write the audit log's seal public key to FILE instead
#                        of AIRLOCK_HOME/seal.pub (it is public: it checks
#                        seals and cannot make them)
#   --enable-units PIPELINE...  enable and start airlock@PIPELINE.timer for each
#   --kit DIR            the kit to install (default: the directory of this script)
#   --yes                ask nothing (needs --key-id)
#   --dry-run            verify the kit, then print what would be done, and do nothing
#   --uninstall          remove the binaries, man pages, completion and units;
#                        AIRLOCK_HOME, the audit log and the users are kept
#
# Exit status: 0 done (or nothing to do), 2 usage, 3 the kit failed
# verification (nothing was installed), 4 an installation step failed.
#
# What the checks prove, and what they do not.
#
# 1. SHA256SUMS lists every file of the kit with its SHA-256, and
#    SHA256SUMS.minisig signs SHA256SUMS with the release key. A kit with a
#    file changed, added or removed is refused, before anything is installed.
# 2. The release key is chosen by its id, which the operator types from
#    paper: the id is computed here, by this script, from each keys/*.pub,
#    so a key that an attacker adds to the kit does not match.
# 3. The signature is checked with the kit's own bin/airlock-verify, whose
#    hash is in SHA256SUMS and is checked first (with sha256sum). That is
#    circular, and we say so: an attacker who replaces airlock-verify must
#    also replace SHA256SUMS (or its hash no longer matches), and a replaced
#    SHA256SUMS fails the signature check - unless the replaced
#    airlock-verify lies and reports success. So when minisign is installed
#    on the host it checks the same signature independently, and this
#    script says which tools agreed. Without minisign, the independent
#    check is the operator's: on a trusted machine run
#        minisign -Vm SHA256SUMS -x SHA256SUMS.minisig -p keys/release-ID.pub
#        sha256sum -c --strict SHA256SUMS
#    and compare the key id with the paper.
# 4. This script itself is in SHA256SUMS, but a replaced install.sh can skip
#    every check: it is only as trustworthy as the medium it came on. Run
#    the independent check above, or run a verified install.sh from an
#    earlier kit with --kit DIR, when the stick may have been tampered with.
# 5. The kit is copied into a private temporary directory first, and the
#    copy is what gets checked and installed: a device that changes its
#    contents between the check and the copy (time-of-check to time-of-use)
#    gains nothing, and a stick mounted noexec still works.
set -eu
umask 022
LC_ALL=C
export LC_ALL

prog=install.sh
key_id=""
prefix=/usr/local
home=/var/lib/airlock
unitdir=/etc/systemd/system
user=airlock
step_user=airlock-step
no_user=""
seal_pub_out=""
units_to_enable=""
kit=""
yes=""
dry_run=""
uninstall=""
tmp=""
changed=0

# die CODE MESSAGE: print MESSAGE and exit with CODE.
die() {
	_code=$1
	shift
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "$_code"
}

# refuse MESSAGE: the kit failed verification; nothing was installed.
refuse() {
	printf '%s: REFUSED: %s\n' "$prog" "$*" >&2
	printf '%s: nothing was installed.\n' "$prog" >&2
	exit 3
}

say() {
	printf '%s\n' "$*"
}

# act MESSAGE COMMAND...: print the action (marked "+"), then run it
# unless --dry-run.
act() {
	_msg=$1
	shift
	changed=$((changed + 1))
	if [ -n "$dry_run" ]; then
		say "  + (dry run) $_msg"
		return 0
	fi
	say "  + $_msg"
	"$@" || die 4 "failed: $_msg"
}

# same MESSAGE: an action that was not needed (marked "=").
same() {
	say "  = $*"
}

usage() {
	sed -n '5,25s/^# \{0,1\}//p' "$0"
	exit 0
}

cleanup() {
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

need_arg() {
	if [ $# -lt 2 ] || [ -z "$2" ]; then
		die 2 "$1 needs a value"
	fi
}

while [ $# -gt 0 ]; do
	case $1 in
	--key-id) need_arg "$@"; key_id=$2; shift 2 ;;
	--prefix) need_arg "$@"; prefix=$2; shift 2 ;;
	--home) need_arg "$@"; home=$2; shift 2 ;;
	--unitdir) need_arg "$@"; unitdir=$2; shift 2 ;;
	--user) need_arg "$@"; user=$2; shift 2 ;;
	--step-user) need_arg "$@"; step_user=$2; shift 2 ;;
	--no-user) no_user=1; shift ;;
	--seal-pub-out) need_arg "$@"; seal_pub_out=$2; shift 2 ;;
	--kit) need_arg "$@"; kit=$2; shift 2 ;;
	--yes | -y) yes=1; shift ;;
	--dry-run | -n) dry_run=1; shift ;;
	--uninstall) uninstall=1; shift ;;
	--enable-units)
		shift
		while [ $# -gt 0 ]; do
			case $1 in -*) break ;; esac
			case $1 in
			[a-z0-9]*) ;;
			*) die 2 "--enable-units $1: not a pipeline name" ;;
			esac
			case $1 in
			*[!a-z0-9_-]*) die 2 "--enable-units $1: not a pipeline name" ;;
			esac
			units_to_enable="$units_to_enable $1"
			shift
		done
		[ -n "$units_to_enable" ] || die 2 "--enable-units needs at least one pipeline name"
		;;
	-h | --help) usage ;;
	*) die 2 "unknown argument '$1' (--help lists the options)" ;;
	esac
done

# Paths are made absolute: a relative --prefix would land under the kit.
absolute() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}
prefix=$(absolute "$prefix")
home=$(absolute "$home")
unitdir=$(absolute "$unitdir")
[ -z "$seal_pub_out" ] || seal_pub_out=$(absolute "$seal_pub_out")
for d in "$prefix" "$home" "$unitdir"; do
	case $d in *[!A-Za-z0-9._+~@/-]*) die 2 "$d: use a path of plain characters" ;; esac
done
case $user in
[a-z_]*) ;;
*) die 2 "--user $user: not a user name" ;;
esac
case $user in *[!a-z0-9_-]*) die 2 "--user $user: not a user name" ;; esac
case $step_user in
[a-z_]*) ;;
*) die 2 "--step-user $step_user: not a user name" ;;
esac
case $step_user in *[!a-z0-9_-]*) die 2 "--step-user $step_user: not a user name" ;; esac
[ "$step_user" != "$user" ] || die 2 "--step-user $step_user: steps never run as the user that owns the audit log"

if [ -z "$kit" ]; then
	kit=$(dirname "$0")
fi
kit=$(cd "$kit" 2>/dev/null && pwd -P) || die 2 "$kit: no such directory"
[ -f "$kit/SHA256SUMS" ] || die 2 "$kit/SHA256SUMS is missing: is $kit an airlock kit?"

for tool in sha256sum base64 od awk sort comm find cmp; do
	command -v "$tool" >/dev/null 2>&1 || die 4 "$tool is needed and not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/airlock-kit.XXXXXX") || die 4 "cannot create a temporary directory"

# ---- the kit's file list (used by install and uninstall) ----

# safe_path PATH: PATH is relative, normalised, of plain characters.
safe_path() {
	case $1 in
	"" | /* | *//* | */ | *[!A-Za-z0-9._+~@/-]*) return 1 ;;
	esac
	case /$1/ in
	*/../* | */./*) return 1 ;;
	esac
	return 0
}

# The listed paths: every line "<64 hex>  <path>", nothing else.
bad=$(grep -nvE '^[0-9a-f]{64}  [^ ]+$' "$kit/SHA256SUMS" | head -1) || true
[ -z "$bad" ] || refuse "SHA256SUMS: malformed line $bad"
cut -c67- "$kit/SHA256SUMS" >"$tmp/listed.raw"
while IFS= read -r p; do
	safe_path "$p" || refuse "SHA256SUMS lists an unsafe path: $p"
	case $p in SHA256SUMS*) refuse "SHA256SUMS lists $p, which it cannot cover" ;; esac
done <"$tmp/listed.raw"
sort "$tmp/listed.raw" >"$tmp/listed"
dup=$(uniq -d "$tmp/listed" | head -1)
[ -z "$dup" ] || refuse "SHA256SUMS lists $dup twice"

# dest_of PATH: where a file of the kit is installed, or nothing.
dest_of() {
	_base=${1##*/}
	case $1 in
	bin/airlock | bin/airlock-verify) printf '%s/bin/%s\n' "$prefix" "$_base" ;;
	man/*.1) printf '%s/share/man/man1/%s\n' "$prefix" "$_base" ;;
	man/*.5) printf '%s/share/man/man5/%s\n' "$prefix" "$_base" ;;
	completion/airlock) printf '%s/share/bash-completion/completions/airlock\n' "$prefix" ;;
	systemd/*.service | systemd/*.timer | systemd/*.path) printf '%s/%s\n' "$unitdir" "$_base" ;;
	systemd/*) printf '%s/share/doc/airlock/%s\n' "$prefix" "$_base" ;;
	cron/*) printf '%s/share/doc/airlock/examples/cron/%s\n' "$prefix" "$_base" ;;
	esac
}

# mode_of PATH: the mode its installed copy gets.
mode_of() {
	case $1 in
	bin/*) echo 0755 ;;
	*) echo 0644 ;;
	esac
}

# ---- uninstall: no verification needed, nothing from the kit is run ----

if [ -n "$uninstall" ]; then
	say "airlock: uninstalling from $prefix (units from $unitdir)"
	if [ -z "$dry_run" ] && [ "$unitdir" = /etc/systemd/system ] && [ -d /run/systemd/system ] &&
		command -v systemctl >/dev/null 2>&1; then
		for u in $(systemctl list-units --all --plain --no-legend 'airlock@*' 2>/dev/null | awk '{ print $1 }'); do
			act "systemctl disable --now $u" systemctl disable --now "$u"
		done
	fi
	while IFS= read -r p; do
		d=$(dest_of "$p")
		[ -n "$d" ] || continue
		if [ -e "$d" ] || [ -L "$d" ]; then
			act "remove $d" rm -f "$d"
		else
			same "$d is not installed"
		fi
	done <"$tmp/listed"
	for d in "$prefix/share/doc/airlock/examples/cron" "$prefix/share/doc/airlock/examples" \
		"$prefix/share/doc/airlock"; do
		if [ -d "$d" ] && [ -z "$(ls -A "$d")" ]; then
			act "remove empty directory $d" rmdir "$d"
		fi
	done
	if [ -z "$dry_run" ] && [ "$unitdir" = /etc/systemd/system ] && [ -d /run/systemd/system ] &&
		command -v systemctl >/dev/null 2>&1; then
		act "systemctl daemon-reload" systemctl daemon-reload
	fi
	say "kept: $home (AIRLOCK_HOME: the audit log, its keys and the state are never removed)"
	[ -n "$no_user" ] || say "kept: the users $user and $step_user (userdel removes them, once nothing needs their files)"
	say "airlock: uninstalled ($changed changes)"
	exit 0
fi

# ---- verification ----

say "airlock: verifying the kit in $kit"

# The operator's key id, from paper: 16 hex digits, spaces allowed.
if [ -z "$key_id" ]; then
	if [ -n "$yes" ] || [ ! -t 0 ]; then
		die 2 "the release key id is needed: give --key-id ID (from the paper handed over with the kit)"
	fi
	printf 'Release key id, as printed on the paper that came with the kit: '
	read -r key_id || die 2 "no key id given"
fi
key_id=$(printf '%s' "$key_id" | tr -d ' -' | tr 'abcdef' 'ABCDEF')
case $key_id in
*[!0-9A-F]*) die 2 "key id '$key_id': 16 hexadecimal digits expected" ;;
esac
[ ${#key_id} -eq 16 ] || die 2 "key id '$key_id': 16 hexadecimal digits expected"

# The private copy (see 5. above). cp -R copies symbolic links as links,
# so that they are seen and refused below.
mkdir "$tmp/kit"
cp -R "$kit/." "$tmp/kit/" || refuse "cannot copy the kit from $kit"
cd "$tmp/kit"

odd=$(find . ! -type d ! -type f | head -1)
[ -z "$odd" ] || refuse "${odd#./} is not a regular file (links, devices and pipes are refused)"
find . -type f | sed 's|^\./||' | grep -vxE 'SHA256SUMS|SHA256SUMS\.minisig' | sort >"$tmp/present"
[ -f SHA256SUMS.minisig ] || refuse "SHA256SUMS.minisig is missing: the kit is not signed"
extra=$(comm -23 "$tmp/present" "$tmp/listed" | head -1)
[ -z "$extra" ] || refuse "$extra is in the kit but not in SHA256SUMS"
missing=$(comm -13 "$tmp/present" "$tmp/listed" | head -1)
[ -z "$missing" ] || refuse "$missing is listed in SHA256SUMS but missing from the kit"

# sum_of PATH: the SHA-256 that SHA256SUMS lists for PATH.
sum_of() {
	awk -v p="$1" 'substr($0, 67) == p { print substr($0, 1, 64) }' SHA256SUMS
}

# 3. above: the verifier's own hash, before it is run.
want=$(sum_of bin/airlock-verify)
[ -n "$want" ] || refuse "SHA256SUMS does not list bin/airlock-verify"
got=$(sha256sum <bin/airlock-verify | cut -c1-64)
[ "$got" = "$want" ] || refuse "bin/airlock-verify: SHA-256 is $got, SHA256SUMS says $want"
chmod 0755 bin/airlock-verify bin/airlock

# keyid_of PUB: the key id of a minisign public key file, as minisign shows
# it (the 8 id bytes as a little-endian number, upper-case hex); nothing
# when the file is not a minisign Ed25519 public key.
keyid_of() {
	[ "$(sed -n '1s/^\(untrusted comment: \).*/\1/p' "$1")" = "untrusted comment: " ] || return 0
	[ "$(wc -l <"$1" | tr -d ' ')" -eq 2 ] || return 0
	_hex=$(sed -n 2p "$1" | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n') || return 0
	case $_hex in 4564*) ;; *) return 0 ;; esac
	[ ${#_hex} -eq 84 ] || return 0
	printf '%s\n' "$_hex" | cut -c5-20 | sed 's/../& /g' |
		awk '{ for (i = NF; i >= 1; i--) printf "%s", toupper($i); print "" }'
}

pub=""
for f in keys/*.pub; do
	[ -f "$f" ] || continue
	if [ "$(keyid_of "$f")" = "$key_id" ]; then
		pub=$f
	fi
done
# The kit's ids are not printed: the operator must not copy one from here.
[ -n "$pub" ] || refuse "no key in the kit's keys/ has the id $key_id: the kit was not signed
by that release key, or the id was mistyped. Take the id from the paper, never from the kit."

if ! out=$(bin/airlock-verify sig -p "$pub" -x SHA256SUMS.minisig SHA256SUMS 2>&1); then
	refuse "the signature of SHA256SUMS does not verify with key $key_id ($pub):
$out"
fi
say "  signature of SHA256SUMS: verified by the kit's airlock-verify with key $key_id"
printf '%s\n' "$out" | sed -n 's/^Trusted comment: /  trusted comment: /p'
if command -v minisign >/dev/null 2>&1; then
	if ! out=$(minisign -V -q -m SHA256SUMS -x SHA256SUMS.minisig -p "$pub" 2>&1); then
		refuse "minisign does not verify the signature that airlock-verify accepted
(the kit's airlock-verify may be lying): $out"
	fi
	say "  signature of SHA256SUMS: verified independently by $(command -v minisign)"
else
	say "  minisign is not installed: the signature was checked by the kit's own airlock-verify"
	say "  only (see the comment at the top of install.sh for the independent check)"
fi

if ! out=$(sha256sum -c --strict --quiet SHA256SUMS 2>&1); then
	refuse "files of the kit do not match SHA256SUMS:
$out"
fi
say "  SHA256SUMS: all $(wc -l <SHA256SUMS | tr -d ' ') files match, and no file is unlisted"

# ---- what will be done ----

say "airlock: installing into $prefix, units into $unitdir, AIRLOCK_HOME $home"
if [ -z "$yes" ] && [ -z "$dry_run" ]; then
	[ -t 0 ] || die 2 "not on a terminal: give --yes to install without questions"
	printf 'Proceed? [y/N] '
	read -r answer || answer=""
	case $answer in y | Y | yes | YES) ;; *) die 1 "nothing was installed" ;; esac
fi
if [ -z "$dry_run" ] && [ -z "$no_user" ] && [ "$(id -u)" -ne 0 ]; then
	die 4 "creating the user $user needs root: run as root, or give --no-user"
fi

# install_file SRC DEST MODE: copy SRC to DEST atomically, unless DEST
# has those bytes and that mode already.
install_file() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		_m=$(stat -c %a "$2")
		if [ "$_m" = "${3#0}" ]; then
			same "$2 is up to date"
		else
			act "chmod $3 $2" chmod "$3" "$2"
		fi
		return 0
	fi
	_verb=install
	[ ! -e "$2" ] || _verb=update
	act "$_verb $2" install_copy "$1" "$2" "$3"
}

install_copy() {
	mkdir -p "$(dirname "$2")" &&
		cp "$1" "$2.airlock-new" &&
		chmod "$3" "$2.airlock-new" &&
		mv -f "$2.airlock-new" "$2"
}

# The units and the cron example name the binary, the home, the user and
# the documentation as a default installation has them (/usr/local,
# /var/lib/airlock, airlock): other choices are written into the copies.
mkdir "$tmp/edited"
while IFS= read -r p; do
	d=$(dest_of "$p")
	[ -n "$d" ] || continue
	src=$p
	case $p in
	systemd/* | cron/*)
		src=$tmp/edited/${p%%/*}-${p##*/}
		sed -e "s|/usr/local/bin/airlock|$prefix/bin/airlock|g" \
			-e "s|/usr/local/share/doc/airlock|$prefix/share/doc/airlock|g" \
			-e "s|/var/lib/airlock|$home|g" \
			-e "s|^User=airlock\$|User=$user|" -e "s|^Group=airlock\$|Group=$user|" "$p" >"$src"
		;;
	esac
	install_file "$src" "$d" "$(mode_of "$p")"
done <"$tmp/listed"

if [ "$unitdir" = /etc/systemd/system ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	[ "$changed" -eq 0 ] || act "systemctl daemon-reload" systemctl daemon-reload
fi

# ---- the user and AIRLOCK_HOME ----

owner=""
if [ -z "$no_user" ]; then
	owner=$user
	nologin=$(command -v nologin 2>/dev/null || echo /usr/sbin/nologin)
	if id -u "$user" >/dev/null 2>&1; then
		same "user $user exists"
	else
		act "create system user $user (home $home, shell $nologin)" \
			useradd --system --home-dir "$home" --no-create-home --shell "$nologin" \
			--user-group --comment "airlock batch runner" "$user"
	fi
	# the uid of a confined step when airlock runs as root (runner/README.md,
	# "Confinement"): never root, never the owner of the audit log
	if id -u "$step_user" >/dev/null 2>&1; then
		same "user $step_user exists"
	else
		act "create system user $step_user (steps run as root airlock's; no home, shell $nologin)" \
			useradd --system --home-dir /nonexistent --no-create-home --shell "$nologin" \
			--user-group --comment "airlock confined steps" "$step_user"
	fi
fi

if [ -d "$home" ]; then
	same "$home exists"
else
	act "create $home (0700)" mkdir -p -m 0700 "$home"
fi
if [ -d "$home" ]; then
	if [ "$(stat -c %a "$home")" != 700 ]; then
		act "chmod 0700 $home" chmod 0700 "$home"
	fi
	if [ -n "$owner" ] && [ "$(stat -c %U "$home")" != "$owner" ]; then
		act "chown $owner: $home" chown "$owner:" "$home"
	fi
elif [ -n "$owner" ]; then
	act "chown $owner: $home" true
fi

# as_owner COMMAND...: run COMMAND as the airlock user (or as we are).
as_owner() {
	if [ -z "$owner" ] || [ "$(id -u)" -ne 0 ]; then
		"$@"
	elif command -v runuser >/dev/null 2>&1; then
		runuser -u "$owner" -- "$@"
	else
		setpriv --reuid "$owner" --regid "$owner" --init-groups -- "$@"
	fi
}

seal_pub=${seal_pub_out:-$home/seal.pub}
if ls "$home/audit"/audit-*.jsonl* >/dev/null 2>&1; then
	same "the audit log in $home/audit exists (never re-initialised)"
	if [ -e "$home/k0.txt" ]; then
		# an airlock.audit/1 log, made before seals were public-key ones
		say "  ! the seal key k0 of this (airlock.audit/1) log is still on this host, in $home/k0.txt:"
		say "    copy it off the host for the compliance officer, then delete it (shred -u)."
	fi
else
	act "airlock audit init (as ${owner:-$(id -un)}): audit log, host key, seal key pair; its public key into $seal_pub" \
		as_owner "$prefix/bin/airlock" -q --home "$home" audit init --seal-pub-out "$seal_pub"
	if [ -z "$dry_run" ]; then
		say ""
		say "  The seal public key is in $seal_pub:"
		say "    $(cut -d' ' -f2 "$seal_pub")"
		say "  Give it to the compliance officer and have them write down its id (airlock audit"
		say "  init prints it). It is public: it checks every seal (airlock-verify audit --seal-pub)"
		say "  and makes none. Nothing secret has to leave this host."
	fi
fi

# ---- units, when asked ----

for p in $units_to_enable; do
	if [ "$unitdir" != /etc/systemd/system ] && [ -z "$dry_run" ]; then
		die 4 "--enable-units needs the units in /etc/systemd/system (not $unitdir)"
	fi
	if [ -z "$dry_run" ] && systemctl is-enabled --quiet "airlock@$p.timer" 2>/dev/null; then
		same "airlock@$p.timer is enabled"
	else
		act "systemctl enable --now airlock@$p.timer" systemctl enable --now "airlock@$p.timer"
	fi
done

if [ "$changed" -eq 0 ]; then
	say "airlock: everything was installed already; nothing to do"
elif [ -n "$dry_run" ]; then
	say "airlock: dry run: $changed changes would be made; nothing was changed"
else
	say "airlock: installed ($changed changes). Next: add the release officers' keys"
	say "  (airlock --home $home keys add officer.pub; airlock keys threshold 2), then"
	say "  airlock install BUNDLE for each pipeline."
fi
