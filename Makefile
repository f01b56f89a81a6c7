# airlock - build, test and demo. `make help` lists the targets.
#
# The dynamic build links Debian's packages; `make static` (vendor/) builds
# the same sources against musl and the pinned vendored libraries.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
SANITIZE ?= 0

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

# Every Debian package that building, testing, benchmarking and the demo
# need: the one list `make deps` installs and CI relies on.
DEB_PACKAGES := gcc make pkg-config libc6-dev \
	libsodium-dev libssl-dev libjansson-dev libsqlite3-dev libarchive-dev \
	libzstd-dev libcsv-dev libcmocka-dev \
	bats minisign jq sqlite3 zstd hyperfine openssl file coreutils util-linux \
	clang-tidy cppcheck shellcheck

PKGS := libsodium libcrypto jansson sqlite3 libarchive libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIB_NAMES := -larchive -lzstd -lsqlite3 -ljansson -lsodium -lcrypto -lcsv
# The libraries come from Debian's packages either way. By default they
# are linked from the packages' static archives and only libc stays
# shared: relocating libcrypto.so and loading libarchive.so's dependency
# tree (libxml2, ICU, libstdc++) costs 3 ms at every start, and airlock
# is started often (bench/startup). SHARED_LIBS=1 links the .so files.
ifeq ($(SHARED_LIBS),1)
PKG_LIBS := $(LIB_NAMES)
else
PKG_LIBS := -Wl,-Bstatic $(LIB_NAMES) -Wl,-Bdynamic -lm
endif

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := $(WARN) -D_GNU_SOURCE $(HARDEN) -fPIE $(SAN) $(CFLAGS) -I. $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SAN) $(LDFLAGS)

CORE_SRC := $(wildcard core/*.c)
CLI_SRC := runner/cli.c runner/cmd_keys.c runner/cmd_verify.c runner/cmd_misc.c
AIRLOCK_SRC := runner/airlock.c $(CLI_SRC)
VERIFY_SRC := runner/airlock_verify.c $(CLI_SRC)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIBCORE := $(BUILD)/libalcore.a
BINS := $(BUILD)/airlock $(BUILD)/airlock-verify
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps check demo bench clean install help lint
.DEFAULT_GOAL := all
# Unit-test objects are intermediate; keep them so that a rebuild is
# incremental and `make check` ends with the test totals, not an `rm`.
.SECONDARY:

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
	@echo "make demo       install deps if missing, build, run the demo"
	@echo "make bench      run the benchmarks under bench/"
	@echo "make lint       clang-tidy, cppcheck and shellcheck"
	@echo "make install    install into \$$(DESTDIR)\$$(PREFIX) (default /usr/local)"
	@echo "make clean      remove build/"

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCORE): $(call obj,$(CORE_SRC))
	@rm -f $@
	$(quiet) AR $@
	$(Q)ar rcs $@ $^

$(BUILD)/airlock: $(call obj,$(AIRLOCK_SRC)) $(LIBCORE)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/airlock-verify: $(call obj,$(VERIFY_SRC)) $(LIBCORE)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

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

check: $(BINS) $(UNIT_BINS)
	@AIRLOCK_BUILD=$(BUILD) tests/run-suites $(UNIT_BINS)

demo: deps
	@$(MAKE) --no-print-directory all
	@AIRLOCK_BUILD=$(BUILD) examples/demo.sh

bench: $(BINS)
	@for b in bench/*; do [ -x "$$b" ] && AIRLOCK_BUILD=$(BUILD) "$$b"; done; true

SHELL_SCRIPTS := .ci/run tests/run-suites tests/fixtures/*.sh examples/*.sh bench/*

lint:
	clang-tidy --quiet --warnings-as-errors='*' $(CORE_SRC) $(CLI_SRC) runner/airlock.c \
		runner/airlock_verify.c -- -std=c11 -D_GNU_SOURCE -I. $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 -D_GNU_SOURCE --inline-suppr -I. core runner
	shellcheck -x $(SHELL_SCRIPTS)
	shellcheck -x -s bash tests/lib/*.bash
	shellcheck -x tests/cli/*.bats

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
