#!/usr/bin/env bats
# t0050-layout: the source tree keeps the shape README.md ("Layout")
# gives it: includes follow the arrows cli -> report, steps -> runner ->
# manifests, audit -> core; airlock-verify's sources use nothing of the
# engine; no file of a folder calls back into one that calls it.

load ../lib/common

@test 'includes follow the arrows, and no header includes itself' {
	run -0 python3 "$ROOT_DIR/tests/fixtures/layout.py" "$ROOT_DIR"
}

@test 'no call circle between the object files of a folder' {
	[ -d "$AIRLOCK_BUILD/obj/runner" ] || skip "no objects in $AIRLOCK_BUILD/obj (a static build's test)"
	run -0 python3 "$ROOT_DIR/tests/fixtures/layout.py" "$ROOT_DIR" "$AIRLOCK_BUILD"
}

@test 'the checker finds an arrow that runs up and a circle of calls' {
	tree=$BATS_TEST_TMPDIR/tree
	mkdir -p "$tree"
	for d in core audit images manifests runner steps report cli; do mkdir -p "$tree/$d"; done
	printf '#include "steps/steps.h"\n' >"$tree/runner/up.c"
	printf '#include "cli/cli.h"\n' >"$tree/cli/cli.h"
	printf '#include "runner/runner.h"\n' >"$tree/cli/cmd_verify.c"
	printf 'int b(void);\nint a(void) { return b(); }\n' >"$tree/runner/a.c"
	printf 'int a(void);\nint b(void) { return a(); }\n' >"$tree/runner/b.c"
	mkdir -p "$tree/build/obj/runner"
	for f in a b; do cc -c -o "$tree/build/obj/runner/$f.o" "$tree/runner/$f.c"; done
	run -1 python3 "$ROOT_DIR/tests/fixtures/layout.py" "$tree" "$tree/build"
	out_has "runner/up.c:1: includes steps/steps.h: runner/ may not use steps/" \
		"include circle: cli/cli.h" \
		"cli/cmd_verify.c: includes runner/runner.h: airlock-verify must not link runner/" \
		"call circle: runner/a -> runner/b"
}
