#!/usr/bin/env bats
# t7000-man: the man pages (packaging/man) render without a warning and
# document every command and option that the CLI's --help prints; the bash
# completion (packaging/completion/airlock) is clean and offers the
# commands that --help lists.

load ../lib/common

MAN_DIR=$ROOT_DIR/packaging/man
COMPLETION=$ROOT_DIR/packaging/completion/airlock
PAGES=(airlock.1 airlock-verify.1 airlock-manifest.5 airlock-audit.5)

# commands PROG [GROUP]: the command names that `PROG [GROUP] --help` lists.
commands() {
	"$@" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }'
}

# section PAGE TITLE: the source of the .SS TITLE section of PAGE (up to
# the next .SS or .SH), with \- as -, so that options read as typed.
section() {
	sed 's/\\-/-/g' "$MAN_DIR/$1" |
		awk -v t=".SS \"$2\"" '$0 == t { on = 1; next } on && /^\.S[SH]/ { exit } on'
}

# global_section PAGE: the GLOBAL OPTIONS section, \- as -.
global_section() {
	awk '/^\.SH "?GLOBAL OPTIONS"?$/ { on = 1; next } on && /^\.S[SH]/ { exit } on' \
		"$MAN_DIR/$1" | sed 's/\\-/-/g'
}

# options: the long and short options in the text on stdin, one a line
# (not those of a stock tool that the text mentions: "minisign -Vm").
options() {
	local text
	text=$(sed -E 's/minisign +-[A-Za-z]+//g')
	{
		grep -oE -- '--[a-z][a-z0-9-]*' <<<"$text"
		grep -oE -- '(^|[][ |(])-[A-Za-z]([^A-Za-z0-9-]|$)' <<<"$text" |
			grep -oE -- '-[A-Za-z]'
	} | grep -vxF -- --help | sort -u
}

# usage_line PROG: the first line of PROG --help (the global options).
usage_line() {
	"$1" --help | sed -n 1p
}

# check_options PAGE TITLE HELP-COMMAND...: every option that the help
# prints is in the section TITLE of PAGE (as a whole word).
check_options() {
	local page=$1 title=$2 text opt missing=''
	shift 2
	if [[ $title == GLOBAL ]]; then
		text=$(global_section "$page")
	else
		text=$(section "$page" "$title")
	fi
	[[ -n $text ]] || { echo "$page: no section $title" >&2; return 1; }
	while read -r opt; do
		[[ -n $opt ]] || continue
		grep -qE -- "(^|[^A-Za-z0-9-])${opt}([^A-Za-z0-9-]|\$)" <<<"$text" || missing+=" $opt"
	done < <("$@" 2>&1 | options)
	if [[ -n $missing ]]; then
		echo "$page, $title: options of '$*' not documented:$missing" >&2
		return 1
	fi
}

# complete_words FUNCTION WORD...: what FUNCTION offers for the last WORD,
# sorted, one a line.
complete_words() {
	local fn=$1
	shift
	(
		# shellcheck source=packaging/completion/airlock
		. "$COMPLETION"
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		"$fn"
		if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}"; fi
	) | sort
}

@test 'every man page renders with groff -ww without a warning' {
	command -v groff >/dev/null || skip "groff is not installed"
	for p in "${PAGES[@]}"; do
		run --separate-stderr groff -ww -man -Tutf8 "$MAN_DIR/$p"
		[ "$status" -eq 0 ]
		if [ -n "$stderr" ]; then
			printf '%s: %s\n' "$p" "$stderr" >&2
			return 1
		fi
		[ "${#output}" -gt 1000 ]
	done
}

@test 'every man page renders with man --warnings without a warning' {
	command -v man >/dev/null || skip "man is not installed"
	for p in "${PAGES[@]}"; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$MAN_DIR/$p" >out.txt 2>err.txt
		if [ -s err.txt ]; then
			printf '%s: %s\n' "$p" "$(cat err.txt)" >&2
			return 1
		fi
		[ -s out.txt ]
	done
}

@test 'the man pages use only man(7) requests, and no line starts with a quote' {
	local allowed=' TH SH SS TP IP PP P LP RS RE B I BR BI IB IR RB RI EX EE nf fi br sp in '
	for p in "${PAGES[@]}"; do
		if grep -n "^'" "$MAN_DIR/$p"; then
			echo "$p: a line starts with '" >&2
			return 1
		fi
		while read -r req; do
			if [[ $allowed != *" $req "* ]]; then
				echo "$p: request .$req is not in the portable set" >&2
				return 1
			fi
		done < <(grep -oE '^\.[A-Za-z]+' "$MAN_DIR/$p" | cut -c2- | sort -u)
		# .TH NAME SECTION DATE SOURCE MANUAL
		head -n 20 "$MAN_DIR/$p" | grep -qE '^\.TH [A-Z\\-]+ [15] [0-9]{4}-[0-9]{2}-[0-9]{2} '
	done
}

@test 'options in the man pages are written with \- (no bare hyphen before a letter)' {
	for p in "${PAGES[@]}"; do
		# outside comments: " -x" or " --x" where the hyphen is not escaped
		if grep -nE '(^|[ ([|])--?[a-zA-Z]' "$MAN_DIR/$p" | grep -v '^[0-9]*:\.\\"'; then
			echo "$p: an option without \\-" >&2
			return 1
		fi
	done
}

@test 'airlock.1 has a section for every command and every audit subcommand' {
	local c missing=''
	run -0 commands airlock
	[ "${#lines[@]}" -ge 15 ]
	for c in "${lines[@]}"; do
		grep -qxF ".SS \"airlock ${c//-/\\-}\"" "$MAN_DIR/airlock.1" || missing+=" $c"
	done
	run -0 commands airlock audit
	[ "${#lines[@]}" -ge 10 ]
	for c in "${lines[@]}"; do
		grep -qxF ".SS \"airlock audit ${c//-/\\-}\"" "$MAN_DIR/airlock.1" || missing+=" audit-$c"
	done
	if [ -n "$missing" ]; then
		echo "airlock.1: no section for:$missing" >&2
		return 1
	fi
}

@test 'airlock.1 documents every option that airlock COMMAND --help prints' {
	local c s
	check_options airlock.1 GLOBAL usage_line airlock
	for c in $(commands airlock); do
		check_options airlock.1 "airlock $c" airlock "$c" --help
	done
	for s in $(commands airlock audit); do
		check_options airlock.1 "airlock audit $s" airlock audit "$s" --help
	done
	for s in $(commands airlock keys); do
		check_options airlock.1 "airlock keys" airlock keys "$s" --help
	done
	for s in list reset; do
		check_options airlock.1 "airlock breaker" airlock breaker "$s" --help
	done
}

@test 'airlock-verify.1 has a section for every command and documents its options' {
	local c missing=''
	run -0 commands airlock-verify
	[ "${#lines[@]}" -ge 4 ]
	for c in "${lines[@]}"; do
		grep -qxF ".SS \"airlock\\-verify $c\"" "$MAN_DIR/airlock-verify.1" || missing+=" $c"
	done
	if [ -n "$missing" ]; then
		echo "airlock-verify.1: no section for:$missing" >&2
		return 1
	fi
	check_options airlock-verify.1 GLOBAL usage_line airlock-verify
	for c in $(commands airlock-verify); do
		check_options airlock-verify.1 "airlock-verify $c" airlock-verify "$c" --help
	done
}

@test 'the check of options notices an undocumented one' {
	# the checker itself: a made-up help line must fail it
	fake_help() { printf 'usage: airlock version [--verbose] [--frobnicate] [-Z]\n'; }
	run ! check_options airlock.1 "airlock version" fake_help
	[[ $output == *--frobnicate* && $output == *-Z* ]]
	run -0 check_options airlock.1 "airlock version" airlock version --help
}

@test 'the format pages cover their formats and name the normative files' {
	local m a
	m=$(sed 's/\\-/-/g' "$MAN_DIR/airlock-manifest.5")
	for w in airlock.manifest/1 airlock.schema/1 manifests/FORMAT.md policy.json \
		threshold on_failure max_reject needs when timeout retries verify outputs \
		limits network secrets resource await validate notify exec '500ms' \
		manifest.json signatures/ SOURCE_DATE_EPOCH allow-downgrade; do
		[[ $m == *"$w"* ]] || { echo "airlock-manifest.5 lacks $w" >&2; return 1; }
	done
	a=$(sed 's/\\-/-/g' "$MAN_DIR/airlock-audit.5")
	for w in airlock.audit/2 airlock.audit/1 audit/FORMAT.md seq ts prev event log.open log.segment \
		log.resume log.torn_tail clock.backwards seal checkpoint audit.accessed \
		airlock.fss/2 airlock.seal/2 seal_pub next_pub 'unsealed tail' checkpoint.txt.minisig \
		checkpoint.txt.sig seals.jsonl sinks.json anchor.sent anchor.failed \
		'entries' 'files' 'runs' fdatasync VERIFY.txt; do
		[[ $a == *"$w"* ]] || { echo "airlock-audit.5 lacks $w" >&2; return 1; }
	done
}

@test 'the bash completion parses and is shellcheck clean' {
	run -0 bash -n "$COMPLETION"
	command -v shellcheck >/dev/null || skip "shellcheck is not installed"
	run -0 shellcheck -s bash "$COMPLETION"
}

@test 'completing the word after airlock offers the commands of airlock --help' {
	local want got
	want=$({ commands airlock; echo help; } | sort)
	got=$(complete_words _airlock airlock '')
	[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") >&2; return 1; }
	got=$(complete_words _airlock airlock --home /tmp --json '')
	[ "$got" = "$want" ]
	got=$(complete_words _airlock airlock s)
	[ "$got" = "$(printf '%s\n' sha256 sign sign-file status | sort)" ]
}

@test 'completing the word after airlock audit offers the audit subcommands' {
	local want got
	want=$(commands airlock audit | sort)
	[ -n "$want" ]
	got=$(complete_words _airlock airlock audit '')
	[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") >&2; return 1; }
	got=$(complete_words _airlock airlock -q audit ch)
	[ "$got" = checkpoint ]
	want=$(commands airlock keys | sort)
	got=$(complete_words _airlock airlock keys '')
	[ "$got" = "$want" ]
}

@test 'completing the word after airlock-verify offers its commands' {
	local want got
	want=$(commands airlock-verify | sort)
	got=$(complete_words _airlock_verify airlock-verify '')
	[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") >&2; return 1; }
}

@test 'completing options offers what --help prints' {
	local c want got opt
	for c in run install verify keygen sign-file runs logs; do
		got=$(complete_words _airlock airlock "$c" -)
		while read -r opt; do
			grep -qxF -- "$opt" <<<"$got" || { echo "airlock $c: $opt not offered" >&2; return 1; }
		done < <(airlock "$c" --help | options)
	done
	for c in init verify query export tail; do
		got=$(complete_words _airlock airlock audit "$c" -)
		while read -r opt; do
			grep -qxF -- "$opt" <<<"$got" || { echo "airlock audit $c: $opt not offered" >&2; return 1; }
		done < <(airlock audit "$c" --help | options)
	done
	got=$(complete_words _airlock_verify airlock-verify audit --)
	for opt in --seal-pub --anchor --strict --json; do
		grep -qxF -- "$opt" <<<"$got"
	done
}

@test 'completion offers installed pipelines and runs from the home' {
	mkdir -p home/pipelines home/runs/20261125T030001Z-3f9a/logs
	ln -s ../bundles/x home/pipelines/nightly-risk
	: >home/runs/20261125T030001Z-3f9a/logs/score.1.out
	export AIRLOCK_HOME=$PWD/home
	run -0 complete_words _airlock airlock run n
	[[ $output == *nightly-risk* ]]
	run -0 complete_words _airlock airlock status ''
	[ "$output" = 20261125T030001Z-3f9a ]
	run -0 complete_words _airlock airlock logs 20261125T030001Z-3f9a ''
	[ "$output" = score ]
	unset AIRLOCK_HOME
	run -0 complete_words _airlock airlock --home "$PWD/home" resume 2026
	[ "$output" = 20261125T030001Z-3f9a ]
}
