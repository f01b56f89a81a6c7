# airlock - build, test and demo. `make help` lists the targets.
#
# The dynamic build links Debian's packages; `make static` (vendor/) builds
# the same sources against musl and the pinned vendored libraries.

PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?= 0
STATIC ?= 0

# Every Debian package that building, testing, benchmarking, the static
# build and the demo need: the one list `make deps` installs and CI uses.
# libseccomp-dev: the steps' system-call filter; gperf: libseccomp's own
# build (the static one); bubblewrap: the baseline of bench/isolation;
# skopeo, umoci: what writes and what unpacks container images, against
# which the image tests and bench/images check airlock's reading of them;
# mmdebstrap: the nightly example's scoring image, from Debian's mirror;
# rsyslog, rsyslog-gnutls: the SIEM the log-shipping tests send every
# entry to, over TCP and TLS.
DEB_PACKAGES := gcc make pkg-config libc6-dev \
	libsodium-dev libssl-dev libjansson-dev libsqlite3-dev libarchive-dev \
	libzstd-dev libcsv-dev libcmocka-dev libseccomp-dev gperf bubblewrap skopeo umoci mmdebstrap rsyslog rsyslog-gnutls \
	bats minisign jq sqlite3 zstd hyperfine openssl file coreutils util-linux \
	clang-tidy cppcheck shellcheck python3-jsonschema \
	musl-tools dpkg-dev debian-archive-keyring xz-utils perl tcl python3 \
	prometheus chromium groff-base man-db systemd lintian xxd \
	autoconf automake libtool \
	libfuzzer-14-dev clang

# The nightly example's scoring image (examples/nightly/image/build).
NIGHTLY_IMAGE := build/cache/nightly-score.tar

# libssl: TLS to the SIEM's collector (tls:// sinks, RFC 5425), beside
# the libcrypto of every hash and HMAC.
LIB_NAMES := -larchive -lzstd -lsqlite3 -ljansson -lsodium -lssl -lcrypto -lcsv -lseccomp
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral

ifeq ($(STATIC),1)
# `make static`: musl-gcc and the libraries vendor/build made from the
# source packages pinned in vendor/lock; one static-pie binary, stripped,
# reproducible (build paths mapped away, no timestamps).
BUILD := build/static
CC := musl-gcc
VENDOR_ROOT := $(BUILD)/vendor/root/airlock-vendor
# The libraries' headers are system headers (SCMP_A0's initializers would
# trip -Wextra in our files); seccomp.h includes the kernel's headers,
# which musl's do not: the links vendor/build made to Debian's
# (linux-libc-dev), searched after musl's.
PKG_CFLAGS := -isystem $(VENDOR_ROOT)/include -idirafter $(BUILD)/vendor/kernel-headers
# vendor/build configures libarchive with zlib, for gzip data (container
# image layers, application/vnd.oci.image.layer.v1.tar+gzip): -lz comes
# after -larchive, which needs it.
PKG_LIBS := -L$(VENDOR_ROOT)/lib $(patsubst -larchive,-larchive -lz,$(LIB_NAMES))
HARDEN := -fstack-protector-strong
SAN :=
OPT := -O2
CFLAGS ?= $(OPT) -g0
# Build paths must not reach the binary (nor the flags it records).
PATH_FLAGS := -ffile-prefix-map=$(CURDIR)=.
# Debian's musl-gcc specs cannot link a static-pie (they always name the
# dynamic loader); ours, derived from them, can: ASLR without a loader.
MUSL_SPECS := $(BUILD)/musl-static-pie.specs
LINK_CC := x86_64-linux-gnu-gcc -specs $(MUSL_SPECS)
LINK_DEPS := $(MUSL_SPECS)
LINK_FLAGS := -static-pie -Wl,-z,relro,-z,now -s
BUILD_INFO := static, musl-gcc (musl-dev $(shell dpkg-query -W -f='$${Version}' musl-dev 2>/dev/null)), \
	vendor/lock sha256 $(firstword $(shell sha256sum vendor/lock 2>/dev/null))
else
ifeq ($(SANITIZE),1)
BUILD ?= build/san
# ASan replaces FORTIFY's checks; together they report false positives.
HARDEN := -fstack-protector-strong
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
else
BUILD ?= build/dyn
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN :=
OPT := -O2
endif
PKGS := libsodium libssl libcrypto jansson sqlite3 libarchive libzstd libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# The libraries come from Debian's packages. By default they are linked
# from the packages' static archives, except libarchive, and libc stays
# shared: relocating libcrypto.so costs about 1 ms at every start
# (bench/startup). Debian's libarchive.a cannot be linked on its own: its
# writer's format table pulls every format in, with libxml2, ICU, lzma,
# bzip2, zlib and nettle; the static build (vendor/) configures it
# without them. SHARED_LIBS=1 links every library's .so.
ifeq ($(SHARED_LIBS),1)
PKG_LIBS := $(LIB_NAMES)
BUILD_INFO := dynamic, shared libraries of Debian packages
else
PKG_LIBS := -Wl,-Bdynamic -larchive -Wl,-Bstatic $(filter-out -larchive,$(LIB_NAMES)) -Wl,-Bdynamic -lm
BUILD_INFO := dynamic libc and libarchive, static archives of the other Debian packages
endif
CFLAGS ?= $(OPT) -g
LINK_CC = $(CC)
LINK_DEPS :=
LINK_FLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
endif

ALL_CFLAGS := $(WARN) -D_GNU_SOURCE $(HARDEN) -fPIE $(SAN) $(CFLAGS) $(PATH_FLAGS) -I. $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LINK_FLAGS) $(SAN) $(LDFLAGS)

CORE_SRC := $(wildcard core/*.c)
AUDIT_SRC := $(wildcard audit/*.c) audit/format_md.S
MANIFESTS_SRC := $(wildcard manifests/*.c)
# Container images carried in bundles: read, checked, unpacked, stored.
IMAGES_SRC := $(wildcard images/*.c)
# The engine (runner/), the built-in step kinds (steps/) and the readers
# that render a run (report/): none of them is in airlock-verify.
RUNNER_SRC := $(wildcard runner/*.c)
STEPS_SRC := $(wildcard steps/*.c)
REPORT_SRC := $(wildcard report/*.c)
# The command line: the only code that parses argv or prints for a person.
VERIFY_CLI_SRC := cli/cli.c cli/cmd_verify.c cli/cmd_misc.c cli/cmd_verify_audit.c cli/cmd_query.c \
	cli/cmd_verify_bundle.c
CLI_SRC := $(VERIFY_CLI_SRC) cli/cmd_keys.c cli/cmd_audit.c cli/cmd_audit_sink.c cli/cmd_alert.c cli/cmd_bundle.c cli/cmd_run.c \
	cli/cmd_report.c cli/cmd_recreate.c cli/cmd_trust.c cli/cmd_shards.c cli/cmd_doctor.c cli/cmd_image.c
AIRLOCK_SRC := cli/airlock.c $(CLI_SRC)
VERIFY_SRC := cli/airlock_verify.c $(VERIFY_CLI_SRC)
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)

obj = $(patsubst %.S,$(BUILD)/obj/%.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(1)))
LIBCORE := $(BUILD)/libalcore.a
LIBAUDIT := $(BUILD)/libalaudit.a
LIBMANIFESTS := $(BUILD)/libalmanifests.a
LIBIMAGES := $(BUILD)/libalimages.a
LIBRUNNER := $(BUILD)/libalrunner.a
LIBSTEPS := $(BUILD)/libalsteps.a
LIBREPORT := $(BUILD)/libalreport.a
# Link order follows the arrows: cli -> report, steps -> runner ->
# manifests, audit -> core. Static libraries are searched once, in this
# order, so a call from one library into a library listed before it
# (runner/ into steps/ or report/) does not link; tests/layout checks
# the include arrows themselves.
AIRLOCK_LIBS := $(LIBREPORT) $(LIBSTEPS) $(LIBRUNNER) $(LIBMANIFESTS) $(LIBIMAGES) $(LIBAUDIT) \
	$(LIBCORE)
AIRLOCK_LINK := $(AIRLOCK_LIBS)
BINS := $(BUILD)/airlock $(BUILD)/airlock-verify
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# Helpers the CLI tests and benchmarks run (fixture generators in C).
HOSTILE := $(BUILD)/tests/hostile
TEST_HELPERS := $(BUILD)/tests/mklog $(BUILD)/tests/flipbyte $(BUILD)/tests/forge $(HOSTILE) \
	$(BUILD)/tests/nouserns \
	$(BUILD)/tests/validate_file $(BUILD)/tests/imgload

.PHONY: all deps check demo bench clean install help lint static check-static check-reproducible test-helpers nightly-image
.DEFAULT_GOAL := all
# Unit-test and fixture objects are intermediate; keep them so that a
# rebuild is incremental and `make check` ends with the test totals, not
# an `rm`. (Not every target: a library's object that is missing must be
# made, even when the library is newer than the object's new source.)
.SECONDARY: $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRC) $(wildcard tests/fixtures/*.c))

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-6s %s\n'
endif

all: $(BINS)

help:
	@echo "make            build airlock and airlock-verify into $(BUILD)/"
	@echo "make deps       install every Debian package needed (apt-get)"
	@echo "make check      run all test suites (SANITIZE=1 for ASan+UBSan)"
	@echo "make nightly-image  the nightly example's scoring image (build/cache/, from Debian's mirror)"
	@echo "make demo       install deps if missing, build, run the demo"
	@echo "make bench      run the benchmarks under bench/"
	@echo "make lint       clang-tidy, cppcheck and shellcheck"
	@echo "make static     fetch the pinned sources, build build/static/airlock{,-verify}"
	@echo "make check-static  the CLI test suites against the static binaries"
	@echo "make check-reproducible  two static builds, compared byte for byte"
	@echo "make kit        the USB kit $(KIT_OUT) (RELEASE_KEY=release.key; else a TEST key)"
	@echo "make deb        the Debian package $(DEB_OUT) (static binaries)"
	@echo "make check-kit  the kit and .deb test suites (tests/kit; may need root)"
	@echo "make torture    200 kills and every audit/state write failed, in turn (long)"
	@echo "make install    install into \$$(DESTDIR)\$$(PREFIX) (default /usr/local)"
	@echo "make clean      remove build/"

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# `airlock version --verbose` says how the binary was built.
$(BUILD)/obj/cli/cmd_misc.o: ALL_CFLAGS += -DAL_BUILD_INFO='"$(strip $(BUILD_INFO))"' \
	-DAL_BUILD_FLAGS='"$(strip $(HARDEN) -fPIE $(SAN) $(CFLAGS) $(LINK_FLAGS))"'
$(BUILD)/obj/cli/cmd_misc.o: Makefile $(wildcard vendor/lock)

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(quiet) AS $<
	$(Q)$(CC) -c -o $@ $<

# FORMAT.md is built into the binary (.incbin): rebuild when it changes.
$(BUILD)/obj/audit/format_md.o: audit/FORMAT.md

$(LIBCORE): $(call obj,$(CORE_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBAUDIT): $(call obj,$(AUDIT_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBMANIFESTS): $(call obj,$(MANIFESTS_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBIMAGES): $(call obj,$(IMAGES_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBRUNNER): $(call obj,$(RUNNER_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBSTEPS): $(call obj,$(STEPS_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(LIBREPORT): $(call obj,$(REPORT_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(BUILD)/airlock: $(call obj,$(AIRLOCK_SRC)) $(AIRLOCK_LIBS) | $(LINK_DEPS)
	$(quiet) LINK $@
	$(Q)$(LINK_CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(AIRLOCK_LINK) $(PKG_LIBS)

$(BUILD)/airlock-verify: $(call obj,$(VERIFY_SRC)) $(LIBMANIFESTS) $(LIBIMAGES) $(LIBAUDIT) $(LIBCORE) | $(LINK_DEPS)
	$(quiet) LINK $@
	$(Q)$(LINK_CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/static/musl-static-pie.specs: /usr/lib/x86_64-linux-musl/musl-gcc.specs
	@mkdir -p $(dir $@)
	$(quiet) SPECS $@
	$(Q)sed -e 's|%{!shared: \(/usr/lib/x86_64-linux-musl\)/Scrt1.o}|%{static-pie:\1/rcrt1.o} %{!static-pie:%{!shared: \1/Scrt1.o}}|' \
		-e 's|^-dynamic-linker \([^ ]*\) |%{!static-pie:-dynamic-linker \1} %{static-pie:-static -pie --no-dynamic-linker -z text} |' $< >$@.tmp
	$(Q)grep -q 'rcrt1.o' $@.tmp && grep -q 'no-dynamic-linker' $@.tmp || \
		{ echo "musl-gcc.specs has an unexpected form: cannot derive static-pie specs" >&2; rm -f $@.tmp; exit 1; }
	$(Q)mv $@.tmp $@

$(filter-out $(HOSTILE),$(TEST_HELPERS)): $(BUILD)/tests/%: $(BUILD)/obj/tests/fixtures/%.o $(AIRLOCK_LIBS) | $(LINK_DEPS)
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(LINK_CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(AIRLOCK_LINK) $(PKG_LIBS)

# hostile runs as a confined step, which is its point: built plain and
# static, whatever SANITIZE says (LeakSanitizer stops the world with
# ptrace at exit, which the step's filter refuses), and in no library.
$(HOSTILE): tests/fixtures/hostile.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(WARN) -D_GNU_SOURCE -O2 -static -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(AIRLOCK_LIBS)
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(AIRLOCK_LINK) $(PKG_LIBS) -lcmocka

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test-helpers: $(TEST_HELPERS)

check: $(BINS) $(UNIT_BINS) $(TEST_HELPERS) fuzz-short $(NIGHTLY_IMAGE)
	@AIRLOCK_BUILD=$(BUILD) ONCE="$(CHECK_ONCE)" tests/run-suites $(UNIT_BINS)

# Under SANITIZE=1, what the plain check already ran and sanitizers add
# nothing to (QUEUE.md: slow real-server suites once, CI's time): the
# fuzz targets, the same binaries (build/fuzz, with ASan+UBSan of their
# own) whichever build checks; the nightly in its 135 MB image, whose
# code t4900-images runs under the sanitizers on small images.
ifeq ($(SANITIZE),1)
CHECK_ONCE := fuzz/t8000-fuzz-short e2e/t5150-nightly-image
endif

# The image the nightly example's score step runs in (Debian's essential
# packages and python3, ~30 s from Debian's mirror), built once into
# build/cache/ and shared by every build variant, the tests and the demo.
nightly-image: $(NIGHTLY_IMAGE)
$(NIGHTLY_IMAGE): examples/nightly/image/build
	@mkdir -p $(dir $@)
	$(quiet) IMAGE $@
	$(Q)examples/nightly/image/build $@ >/dev/null

# The static build: vendor/fetch checks every source file against
# vendor/lock (and stops the build on a mismatch), vendor/build makes the
# libraries, then the binaries are linked with musl.
static:
	vendor/fetch
	vendor/build build/static/vendor
	@$(MAKE) --no-print-directory STATIC=1 all test-helpers
	@file build/static/airlock build/static/airlock-verify
	@# what check-reproducible compares a second build with (tests/repro)
	@printf '%s\n' "$${SOURCE_DATE_EPOCH:-}" >build/static/.source-date-epoch

# The CLI suites against the static binaries, and the static build's own
# (the end-to-end suites run once, in make check: same code, and CI's time).
check-static:
	@test -x build/static/airlock || { echo "make check-static: run make static first" >&2; exit 2; }
	@AIRLOCK_BUILD=build/static SUITES="cli static" tests/run-suites

# Two static builds in two directories must give the same bytes (slow: a
# full build of the libraries, two when build/static was not made with
# the test's SOURCE_DATE_EPOCH; CI makes it so and runs this).
check-reproducible:
	@AIRLOCK_BUILD=build/static SUITES=repro tests/run-suites

# The USB kit and the Debian package, from the static binaries
# (packaging/README.md). Neither builds them: run `make static` first.
KIT_VERSION := $(shell awk -F'"' '$$1 ~ /^.define AL_VERSION / { print $$2 }' core/core.h)
KIT_DIR ?= build/kit
KIT_OUT ?= airlock-kit-$(KIT_VERSION).tar
RELEASE_KEY ?=
DEB_DIR ?= build/deb
DEB_OUT ?= airlock_$(KIT_VERSION)_amd64.deb
.PHONY: kit deb check-kit

kit:
	@KIT_DIR='$(KIT_DIR)' KIT_OUT='$(KIT_OUT)' RELEASE_KEY='$(RELEASE_KEY)' packaging/mkkit

deb:
	@DEB_DIR='$(DEB_DIR)' DEB_OUT='$(DEB_OUT)' packaging/mkdeb

# Builds kits and a .deb in scratch directories and installs them there
# (as root it also creates and removes a scratch system user).
check-kit:
	@test -x build/static/airlock || { echo "make check-kit: run make static first" >&2; exit 2; }
	@AIRLOCK_BUILD=build/static SUITES=kit tests/run-suites

# The long fault torture (tests/e2e/t5300, t5310): 200 kills at random
# and labelled points, every write and fsync failed in turn. make check
# runs the same files with small counts.
.PHONY: torture
torture: $(BINS) $(TEST_HELPERS)
	@AIRLOCK_BUILD=$(BUILD) AIRLOCK_TORTURE_KILLS=200 AIRLOCK_TORTURE_FAULTS=all \
		bats tests/e2e/t5300-torture-kill.bats tests/e2e/t5310-torture-faults.bats

demo: deps
	@$(MAKE) --no-print-directory all nightly-image
	@AIRLOCK_BUILD=$(BUILD) NIGHTLY_IMAGE=$(abspath $(NIGHTLY_IMAGE)) examples/demo.sh

bench: $(BINS) $(TEST_HELPERS)
	@for b in bench/*; do [ -x "$$b" ] && AIRLOCK_BUILD=$(BUILD) "$$b"; done; true

SHELL_SCRIPTS := .ci/run tests/run-suites tests/fixtures/*.sh examples/*.sh bench/* \
	vendor/fetch vendor/build vendor/update vendor/common.sh

lint: lint-fuzz
	clang-tidy --quiet --warnings-as-errors='*' $(CORE_SRC) $(filter %.c,$(AUDIT_SRC)) $(MANIFESTS_SRC) \
		$(IMAGES_SRC) $(RUNNER_SRC) $(STEPS_SRC) $(REPORT_SRC) $(CLI_SRC) cli/airlock.c cli/airlock_verify.c \
		-- -std=c11 -D_GNU_SOURCE -I. $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 -D_GNU_SOURCE -D__x86_64__ --inline-suppr -I. core audit manifests images runner steps report cli
	shellcheck -S warning -x $(SHELL_SCRIPTS)
	shellcheck -S warning -x -s bash tests/lib/*.bash tests/fixtures/*.bash
	shellcheck -S warning -x tests/cli/*.bats tests/e2e/*.bats tests/static/*.bats tests/repro/*.bats tests/kit/*.bats
	shellcheck -S warning -x packaging/install.sh packaging/mkkit packaging/mkdeb packaging/deb/postinst \
		packaging/deb/postrm examples/nightly/stubs/make-token examples/nightly/image/build
	shellcheck -S warning -x -s bash tests/kit/*.bash packaging/completion/airlock

MAN1 := packaging/man/airlock.1 packaging/man/airlock-verify.1
MAN5 := packaging/man/airlock-manifest.5 packaging/man/airlock-audit.5
COMPDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(COMPDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 packaging/completion/airlock $(COMPDIR)/airlock
	ln -sf airlock $(COMPDIR)/airlock-verify

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing (tests/fuzz/README.md) ----
# libFuzzer targets under ASan+UBSan, built with clang into build/fuzz/
# from the library sources (never from the gcc objects). `make fuzz`
# makes the seed corpora (tests/fuzz/seeds.sh, from build/dyn's binaries)
# and runs every target for FUZZ_SECONDS; `make check` builds them and
# runs each for FUZZ_CHECK_SECONDS (tests/fuzz/t8000-fuzz-short.bats)
# and replays the inputs of tests/fuzz/regressions.sh.
FUZZ_BUILD := build/fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 5
# For tests/fuzz/t8000-fuzz-short.bats under `make check`.
export FUZZ_CHECK_SECONDS
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The dynamic build's libraries, whatever STATIC or SHARED_LIBS say: the
# static archives of Debian's packages, libarchive and libc shared.
FUZZ_PKG_CFLAGS := $(shell pkg-config --cflags libsodium libcrypto jansson sqlite3 libarchive libzstd libseccomp 2>/dev/null)
FUZZ_PKG_LIBS := -Wl,-Bdynamic -larchive -Wl,-Bstatic $(filter-out -larchive,$(LIB_NAMES)) -Wl,-Bdynamic -lm
FUZZ_CFLAGS := $(WARN) -D_GNU_SOURCE -g -O1 -I. $(FUZZ_PKG_CFLAGS) -MMD -MP
# validate's library code (steps/validate.h), without the step kinds
VALIDATE_SRC := steps/schema.c steps/records.c steps/csv.c steps/validate.c
FUZZ_LIB_SRC := $(CORE_SRC) $(filter %.c,$(AUDIT_SRC)) $(MANIFESTS_SRC) $(IMAGES_SRC) $(VALIDATE_SRC)
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRC)) $(FUZZ_BUILD)/obj/audit/format_md.o
FUZZ_TARGETS := manifest keys audit_line audit_verify checkpoint shards bundle validate image restore
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
.PHONY: fuzz fuzz-short fuzz-seeds lint-fuzz

# The library is compiled with -fsanitize=fuzzer-no-link: coverage and
# sanitizers without libFuzzer's main.
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) FUZZCC $<
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c -o $@ $<

$(FUZZ_BUILD)/obj/audit/format_md.o: audit/format_md.S audit/FORMAT.md
	@mkdir -p $(dir $@)
	$(quiet) AS $<
	$(Q)$(FUZZ_CC) -c -o $@ $<

$(FUZZ_BUILD)/libalfuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/obj/tests/fuzz/scratch.o $(FUZZ_BUILD)/libalfuzz.a
	$(quiet) LINK $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $^ $(FUZZ_PKG_LIBS)

$(FUZZ_BUILD)/corpus/.done: tests/fuzz/seeds.sh $(BUILD)/airlock $(BUILD)/tests/mklog
	$(quiet) SEEDS $(FUZZ_BUILD)/corpus
	$(Q)AIRLOCK_BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/seeds.sh
	@touch $@

fuzz-seeds: $(FUZZ_BUILD)/corpus/.done

# Runs every target for FUZZ_SECONDS on its corpus (new inputs are kept in
# build/fuzz/corpus/<target>/), then prints libFuzzer's final numbers.
fuzz: $(FUZZ_BINS) fuzz-seeds
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# What `make check` needs (a prerequisite of check): the binaries; the
# suite makes its own seeds.
fuzz-short: $(FUZZ_BINS)

lint-fuzz:
	clang-tidy --quiet --warnings-as-errors='*' tests/fuzz/*.c -- -std=c11 -D_GNU_SOURCE -I. $(FUZZ_PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 -D_GNU_SOURCE --inline-suppr -I. tests/fuzz
	shellcheck -S warning -x tests/fuzz/seeds.sh tests/fuzz/run tests/fuzz/regressions.sh tests/fuzz/*.bats

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
