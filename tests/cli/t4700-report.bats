#!/usr/bin/env bats
# t4700-report: airlock report RUN -o FILE.html writes one self-contained
# page built from the run's audit entries: every step, attempt, exit code
# and retry with the seq that backs it, strings from the log escaped, no
# script and no reference outside the page; reading the log for it is
# audited; and the page renders in a browser without JavaScript.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25
CHROMIUM=/usr/bin/chromium

# A run with a step that exits 75 once and is retried, a failing step
# (on_failure: skip) and its dependant, skipped upstream-failed.
setup() {
	common_setup
	mkhome
	steps p p '[
	  {"id": "flaky", "run": ["bin/flaky"], "outputs": [{"path": "o.txt"}],
	   "retries": {"max": 2, "base": "1ms", "cap": "1ms", "on": ["exit:75"]}},
	  {"id": "bad", "run": ["sh", "-c", "echo oops >&2; exit 3"], "on_failure": "skip"},
	  {"id": "after", "needs": ["bad"], "run": ["sh", "-c", "true"]}
	]'
	# shellcheck disable=SC2016 # expanded by the step's shell
	script p flaky '[ "$AIRLOCK_ATTEMPT" -ge 2 ] || exit 75; echo done >o.txt'
}

# run_id: the id of the newest run in the audit log.
run_id() {
	audit_events '.event=="run.start"' | jq -r .run | tail -1
}

# html_text FILE: the page's text, entities decoded, one piece a line.
html_text() {
	python3 -c 'import html.parser, sys
class P(html.parser.HTMLParser):
    def handle_data(self, d):
        if d.strip():
            print(d.strip())
P(convert_charrefs=True).feed(open(sys.argv[1], encoding="utf-8").read())' "$1"
}

# step_rows FILE: the steps table as "step attempt exit status evidence"
# (tab-separated), sorted; the step cell spans its rows.
step_rows() {
	python3 -c 'import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.on, self.rows, self.row, self.cell = False, [], None, None
    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "steps") in attrs:
            self.on = True
        elif self.on and tag == "tr":
            self.row = []
        elif self.on and tag == "td" and self.row is not None and self.cell is None:
            self.cell = ""
        elif self.on and tag == "details":
            self.cell = None if self.cell is None else self.cell + "\0"
    def handle_endtag(self, tag):
        if tag == "table":
            self.on = False
        elif self.on and tag == "td" and self.cell is not None:
            self.row.append(self.cell.split("\0")[0].strip())
            self.cell = None
        elif self.on and tag == "tr" and self.row:
            self.rows.append(self.row)
            self.row = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
step, out = None, []
for r in p.rows:
    if len(r) == 11:
        step, r = r[0], r[1:]
    out.append("\t".join([step, r[0], r[3], r[5], r[9]]))
print("\n".join(sorted(out)))' "$1"
}

# html_check FILE: the page is well-formed (every element closed, in
# order) and self-contained: no script, no event handler, no reference
# but to itself or a data: URI, no CSS that loads anything.
html_check() {
	python3 -c 'import html.parser, sys
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "source", "wbr"}
SVG_SELF = {"line", "rect", "path", "circle", "polyline", "polygon"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.in_style = [], [], False
    def error_at(self, msg):
        self.errors.append("line %d: %s" % (self.getpos()[0], msg))
    def check_attrs(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "link", "base", "form"):
            self.error_at("<%s> in the page" % tag)
        for k, v in attrs:
            v = v or ""
            if k.startswith("on"):
                self.error_at("event handler %s on <%s>" % (k, tag))
            if k in ("src", "href", "xlink:href", "action", "srcset", "poster") and \
               not (v.startswith("#") or v.startswith("data:")):
                self.error_at("%s=%r on <%s> points outside the page" % (k, v, tag))
            if k == "style" and "url(" in v:
                self.error_at("url() in a style attribute")
    def handle_starttag(self, tag, attrs):
        self.check_attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))
        self.in_style = tag == "style"
    def handle_startendtag(self, tag, attrs):
        self.check_attrs(tag, attrs)
        if tag not in VOID and tag not in SVG_SELF:
            self.error_at("<%s/> self-closed" % tag)
    def handle_endtag(self, tag):
        self.in_style = False
        if not self.stack or self.stack[-1][0] != tag:
            self.error_at("</%s> closes %s" % (tag, self.stack[-1] if self.stack else "nothing"))
        else:
            self.stack.pop()
    def handle_data(self, d):
        if self.in_style and ("url(" in d or "@import" in d):
            self.error_at("the stylesheet loads something")
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
for tag, line in p.stack:
    p.errors.append("<%s> of line %d never closed" % (tag, line))
for e in p.errors:
    print(e)
sys.exit(1 if p.errors else 0)' "$1"
}

# render FILE.html OUT.png: a screenshot by headless Chromium; its log
# (console messages included) in OUT.png.log.
render() {
	local data=$BATS_TEST_TMPDIR/chromium
	mkdir -p "$data"
	HOME=$BATS_TEST_TMPDIR timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --no-first-run --user-data-dir="$data" \
		--enable-logging=stderr --v=0 --window-size=1280,2000 \
		--screenshot="$2" "file://$(realpath "$1")" 2>"$2.log"
}

# console_errors LOG: console messages and uncaught errors of the page,
# without Chromium's own noise about D-Bus, the GPU and its sandbox.
console_errors() {
	grep -vE 'dbus|gpu|vaapi|sandbox|bluez|Floss|UPower' "$1" |
		grep -E 'CONSOLE|Uncaught|ERROR:[^]]*console' || true
}

# capped CMD...: CMD with at most 2 GB of address space and 30 s, so that
# a report that loops and grows its page fails the test, not the machine.
# An ASan build cannot start under such a limit and runs without it
# (UBSan stops at an overflow there).
capped() {
	if (ulimit -v 2000000 && airlock --version) >/dev/null 2>&1; then
		(ulimit -v 2000000 && exec timeout 30 "$@")
	else
		timeout 30 "$@"
	fi
}

@test 'the report shows each step, attempt, exit code and status with the seq that backs it' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	run -0 airlock report "$RUN" -o r.html
	[ -s r.html ]
	want=$(audit_events "(.event==\"step.start\" or .event==\"step.end\") and .run==\"$RUN\"" |
		jq -rs 'group_by([.step, .attempt])[]
		  | (map(select(.event == "step.start"))[0]) as $s
		  | (map(select(.event == "step.end"))[0]) as $e
		  | [$s.step, ($s.attempt | tostring), ($e.exit | tostring), $e.status, "seq \($s.seq)–\($e.seq)"]
		  | @tsv'
		audit_events ".event==\"step.skipped\" and .run==\"$RUN\"" |
		jq -r '[.step, "—", "—", "skipped", "seq \(.seq)"] | @tsv')
	want=$(sort <<<"$want")
	got=$(step_rows r.html)
	[ "$got" = "$want" ] || { printf 'want:\n%s\ngot:\n%s\n' "$want" "$got" >&2; false; }
	# the three steps are there, with the exit codes 75, 0 and 3
	grep -F -q $'flaky\t1\t75\tfailed' <<<"$got"
	grep -F -q $'flaky\t2\t0\tok' <<<"$got"
	grep -F -q $'bad\t1\t3\tfailed' <<<"$got"
	grep -F -q $'after\t—\t—\tskipped' <<<"$got"
}

@test 'the report shows the retry, the run header and the seq range, as the log has them' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	run -0 airlock report "$RUN" -o r.html
	text=$(html_text r.html)
	retry=$(audit_events ".event==\"step.retry\" and .run==\"$RUN\"")
	d=$(jq .delay_ms <<<"$retry")
	s=$(jq .seq <<<"$retry")
	grep -F -q "retried as attempt 2 after $d ms: exit:75" <<<"$text"
	grep -F -x -q "seq $s" <<<"$text"
	start=$(audit_events ".event==\"run.start\" and .run==\"$RUN\"")
	for f in run pipeline manifest_sha256 date; do
		grep -F -x -q "$(jq -r ".$f" <<<"$start")" <<<"$text"
	done
	grep -F -x -q "$(jq -r '"\(.user) (uid \(.uid)) on \(.host)"' <<<"$start")" <<<"$text"
	grep -F -x -q "$(jq -c .argv <<<"$start")" <<<"$text"
	grep -F -x -q "$(jq -r .ts <<<"$start")" <<<"$text"
	end=$(audit_events ".event==\"run.end\" and .run==\"$RUN\"")
	grep -F -x -q "$(jq -r .status <<<"$end")" <<<"$text"
	grep -F -x -q "$(jq -r .ts <<<"$end")" <<<"$text"
	grep -F -x -q "seq $(jq .seq <<<"$end")" <<<"$text"
	first=$(audit_events ".run==\"$RUN\"" | head -1 | jq .seq)
	last=$(audit_events ".run==\"$RUN\"" | tail -1 | jq .seq)
	n=$(count_events ".run==\"$RUN\"")
	grep -F -q "$n entries of this run in the log, seq $first–$last" <<<"$text"
	log_id=$(audit_events '.event=="log.open"' | jq -r .log_id)
	grep -F -x -q "$log_id" <<<"$text"
	# the committed output, with its hash and the entry that says so
	c=$(audit_events ".event==\"output.committed\" and .run==\"$RUN\" and .step==\"flaky\"")
	grep -F -x -q "$(jq -r '.files[0].sha256' <<<"$c")" <<<"$text"
	grep -F -x -q "seq $(jq .seq <<<"$c")" <<<"$text"
	# every entry of the run is in the evidence appendix, verbatim
	audit_events ".run==\"$RUN\"" | while IFS= read -r line; do
		grep -F -x -q "$line" <<<"$text"
	done
}

@test 'the report is one well-formed page that loads nothing and runs nothing' {
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock report "$(run_id)" -o r.html
	run -0 html_check r.html
	run -1 grep -i -c '<script' r.html
	run -1 grep -c 'http://' r.html
	run -1 grep -c 'https://' r.html
	run -1 grep -E -c '(src|href)="[^#d]' r.html
	head -1 r.html | grep -F -x -q '<!DOCTYPE html>'
	grep -F -q '<svg class="tl"' r.html
}

@test 'strings from the log are escaped: argv, output paths, alerts, unknown events' {
	steps p p '[{"id": "x", "run": ["bin/x", "<script>alert(1)</script>", "a&b \"q\" '\''s'\''"], "outputs": [{"path": "<script>.txt"}]}]'
	script p x 'echo hi >"<script>.txt"'
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	airlock -q audit append --event alert --field run="$RUN" --field kind=retry-storm \
		--field 'message=<img src=x onerror=alert(1)> & </td></table>'
	airlock -q audit append --event custom.thing --field run="$RUN" --field 'detail=<b>bold</b>'
	run -0 airlock report "$RUN" -o r.html
	run -0 html_check r.html
	run -1 grep -i -c '<script' r.html
	run -1 grep -i -c '<img' r.html
	run -1 grep -c '<b>' r.html
	grep -F -q '&lt;script&gt;alert(1)&lt;/script&gt;' r.html
	grep -F -q '&lt;script&gt;.txt' r.html
	text=$(html_text r.html)
	# as text, each string reads as the log has it
	grep -F -q '"<script>alert(1)</script>","a&b \"q\" '\''s'\''"' <<<"$text"
	grep -F -q '<script>.txt;' <<<"$text"
	grep -F -x -q '<img src=x onerror=alert(1)> & </td></table>' <<<"$text"
	# the unknown event is listed, not hidden
	grep -F -x -q 'custom.thing' <<<"$text"
	grep -F -x -q '<b>bold</b>' <<<"$text"
	grep -F -x -q "seq $(audit_events '.event=="custom.thing"' | jq .seq)" <<<"$text"
	grep -F -x -q "seq $(audit_events '.event=="alert"' | jq .seq)" <<<"$text"
}

@test 'an unknown run exits 2 naming it, and writes nothing' {
	run -0 airlock run --unsigned p --date $DATE
	run -2 airlock report nosuch-run -o r.html
	out_has "no entries for run nosuch-run in the audit log"
	[ ! -e r.html ]
}

@test 'usage: a run and -o are needed; --json with -o - is refused' {
	run -2 airlock report -o r.html
	run -2 airlock report some-run
	out_has "-o FILE.html"
	run -2 airlock --json report some-run -o -
}

@test 'a home without an audit log is an error, as for audit query' {
	export AIRLOCK_HOME=$PWD/nohome
	run airlock audit query
	want=$status
	[ "$want" -ne 0 ]
	run airlock report some-run -o r.html
	[ "$status" -eq "$want" ]
	out_has "nohome"
	[ ! -e r.html ]
}

@test 'reading the log for a report is audited: audit.accessed with command report' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	[ "$(count_events '.event=="audit.accessed"')" = 0 ]
	run -0 airlock report "$RUN" -o r.html
	audit_events '.event=="audit.accessed"' |
		jq -e --arg u "$(id -un)" --argjson uid "$(id -u)" '.command == "report" and .user == $u and .uid == $uid'
	# an unknown run is an access too
	run -2 airlock report nosuch -o r2.html
	[ "$(count_events '.event=="audit.accessed" and .command=="report"')" = 2 ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test '--json says where the report is and how many entries it shows; -o - writes stdout' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	n=$(count_events ".run==\"$RUN\"")
	run -0 airlock --json report "$RUN" -o r.html
	jq -e --argjson n "$n" '.report == "r.html" and .entries == $n' <<<"$output"
	run -0 airlock -q report "$RUN" -o -
	[ "${lines[0]}" = '<!DOCTYPE html>' ]
	[ "${lines[-1]}" = '</html>' ]
}

@test 'the report is replaced atomically, readable only by its owner' {
	run -0 airlock run --unsigned p --date $DATE
	echo old >r.html
	ln -s r.html link.html
	run -0 airlock report "$(run_id)" -o r.html
	[ "$(stat -c %a r.html)" = 600 ]
	head -1 r.html | grep -F -x -q '<!DOCTYPE html>'
	[ -z "$(find . -maxdepth 1 -name '*.tmp*')" ]
}

@test 'a run of 1 step and a run of 200 steps make well-formed timelines' {
	steps one one '[{"id": "only", "run": ["sh", "-c", "true"]}]'
	run -0 airlock run --unsigned one --date $DATE
	run -0 airlock report "$(run_id)" -o one.html
	run -0 html_check one.html
	[ "$(grep -o '<rect class="b-ok"' one.html | wc -l)" = 1 ]
	steps many many "$(jq -nc '[range(200) | {id: "s\(.)", run: ["sh", "-c", "true"]}]')"
	run -0 airlock run --unsigned many --date $DATE
	run -0 airlock report "$(run_id)" -o many.html
	run -0 html_check many.html
	[ "$(grep -o '<rect class="b-ok"' many.html | wc -l)" = 200 ]
	# the axis is labelled
	grep -E -q '<text [^>]*>\+[0-9.]+ (µs|ms|s|min)' many.html
}

@test 'the report renders in headless Chromium: not blank, no console errors' {
	if [ ! -x "$CHROMIUM" ]; then
		skip "$CHROMIUM is not installed (make deps installs it): the render is not checked"
	fi
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock report "$(run_id)" -o r.html
	run -0 render r.html r.png
	[ -s r.png ]
	run -0 python3 "$TESTS_DIR/fixtures/pngcheck.py" r.png --min-colours 8 --min-nonwhite 0.05
	echo "$output"
	run -0 console_errors r.png.log
	[ -z "$output" ] || { echo "console: $output" >&2; false; }
}

@test 'a forged index with huge delays and durations makes a report, not an overflow or a loop' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	airlock -q audit reindex
	# the report reads the index without checking the chain: a forged
	# index.db (or segment) can hold any number. The retry's wait reaches
	# past INT64_MAX µs once scaled; the durations overflow when scaled.
	sqlite3 home/audit/index.db "UPDATE entries SET json = json_set(json,
		'\$.ts', '0001-01-01T00:00:00Z', '\$.delay_ms', 9223372036854775)
		WHERE event = 'step.retry' AND run = '$RUN'"
	sqlite3 home/audit/index.db "UPDATE entries SET json = json_set(json,
		'\$.duration_ms', 9223372036854775807) WHERE event = 'step.end' AND run = '$RUN'
		AND step = 'bad'"
	sqlite3 home/audit/index.db "UPDATE entries SET json = json_set(json,
		'\$.duration_ms', -9223372036854775807) WHERE event = 'run.end' AND run = '$RUN'"
	sqlite3 home/audit/index.db "UPDATE entries SET json = json_set(json,
		'\$.ts', '9999-12-31T23:59:59Z') WHERE event = 'step.start' AND run = '$RUN'
		AND step = 'after'"
	run -0 capped airlock report "$RUN" -o r.html
	run -0 html_check r.html
	text=$(html_text r.html)
	# the numbers are shown as the log has them
	grep -F -q "retried as attempt 2 after 9223372036854775 ms" <<<"$text"
	grep -F -q "9223372036854775807 ms" <<<"$text"
	grep -F -x -q -- "-9223372036854775807 ms" <<<"$text"
	# the axis has a bounded number of ticks
	[ "$(grep -o '<line class="grid"' r.html | wc -l)" -le 65 ]
}

@test 'characters that hide or reorder text are shown as escapes, not as they are' {
	run -0 airlock run --unsigned p --date $DATE
	RUN=$(run_id)
	hidden=$(printf 'x\u061c\u00ad\u180e\ufff9\ufffa\ufffb\U000e0001\U000e0041\U000e007f\u202ey')
	airlock -q audit append --event alert --field run="$RUN" --field kind=hidden \
		--field "message=$hidden"
	run -0 airlock report "$RUN" -o r.html
	run -0 python3 -c 'import sys
page = open(sys.argv[1], encoding="utf-8").read()
bad = []
for cp in (0x061C, 0x00AD, 0x180E, 0xFFF9, 0xFFFA, 0xFFFB, 0xE0001, 0xE0041, 0xE007F, 0x202E):
    if chr(cp) in page:
        bad.append("U+%04X as it is" % cp)
    if ("\\u%04X" % cp) not in page:
        bad.append("no \\u%04X" % cp)
print("\n".join(bad))
sys.exit(1 if bad else 0)' r.html
}
