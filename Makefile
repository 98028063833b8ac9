# ppissuer: Privacy Pass token issuer.  Plain GNU make + pkg-config.
#   make            build build/bin/ppissuer (release flags)
#   make test       unit, integration, interop and bench-smoke tests
#   make unit       the unit tests (pp-unit) on their own
#   make integration  the integration tests (pp-integration) on their own
#   make asan       both criterion binaries under ASan + UBSan (leaks fail)
#   make fuzz       libFuzzer targets, FUZZ_TIME seconds each
#   make lint       layering rules, cppcheck, Dockerfile lint
#   make run        start an issuer on 127.0.0.1:8080 with ./data
#   make bench      issuance / redemption throughput vs. openssl speed
#   make bench-ab OLD=<commit>  that commit's server against this one

VERSION := 0.1.0
BUILD ?= build
VECTORS ?= tests/vectors
FUZZ_TIME ?= 10
PREFIX ?= /usr/local

PKGS := openssl libmicrohttpd jansson libsodium lmdb hiredis gnutls libcurl
TEST_PKGS := criterion libcurl

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 \
	-DOPENSSL_NO_DEPRECATED -DPP_VERSION='"$(VERSION)"' -I. $(WARN)
OPT ?= -O2 -g
LDHARDEN := -pie -Wl,-z,relro,-z,now

DEPS_STAMP := $(BUILD)/.deps-ok

# pkg-config is evaluated lazily so a fresh machine reaches the deps check.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

LIB_SRC := $(wildcard base/*.c crypto/*.c keys/*.c issuer/*.c api/*.c program/*.c)
LIB_SRC := $(filter-out program/main.c,$(LIB_SRC))
UNIT_SRC := $(wildcard tests/unit/*.c)
INTEG_SRC := $(wildcard tests/integration/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
CRYPTO_SRC := $(wildcard base/*.c crypto/*.c)

# ---- variant: release (default) or asan ----------------------------------
ifeq ($(SAN),1)
OBJDIR := $(BUILD)/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -DPP_SANITIZE=1
OPT := -O1 -g
else
OBJDIR := $(BUILD)/obj
SANFLAGS :=
endif

CFLAGS_ALL = $(BASE_CFLAGS) $(HARDEN) $(OPT) $(SANFLAGS) $(PKG_CFLAGS)
LDFLAGS_ALL = $(LDHARDEN) $(SANFLAGS)

LIB_OBJ := $(LIB_SRC:%.c=$(OBJDIR)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(OBJDIR)/%.o)
INTEG_OBJ := $(INTEG_SRC:%.c=$(OBJDIR)/%.o)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(OBJDIR)/tools/%)
MAIN_OBJ := $(OBJDIR)/program/main.o
BIN_DIR := $(if $(filter 1,$(SAN)),$(BUILD)/asan/bin,$(BUILD)/bin)
PPISSUER := $(BIN_DIR)/ppissuer
TU_OBJ := $(filter $(OBJDIR)/tests/unit/tu%,$(UNIT_OBJ))
UNIT_BIN := $(BIN_DIR)/pp-unit
INTEG_BIN := $(BIN_DIR)/pp-integration

.PHONY: all deps test unit integration asan asan-verdict fuzz lint run bench bench-ab clean install \
	interop interop-deps test-build unit-build integration-build bench-smoke \
	test-summary container-test
all: $(PPISSUER)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p $(dir $@) && touch $@

$(OBJDIR)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(OBJDIR)/tests/%.o: tests/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -Wno-missing-prototypes -Wno-format-truncation -MMD -MP -c $< -o $@

$(OBJDIR)/libpp.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(PPISSUER): $(MAIN_OBJ) $(OBJDIR)/libpp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# Two criterion binaries. pp-unit: tests/unit/*.c against the library.
# pp-integration: tests/integration/*.c, which start the real server, plus
# the helpers they share with the unit tests (tests/unit/tu*.c: vectors,
# temporary key dirs, a private redis-server).
$(UNIT_BIN): $(UNIT_OBJ) $(OBJDIR)/libpp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(INTEG_BIN): $(INTEG_OBJ) $(TU_OBJ) $(OBJDIR)/libpp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(OBJDIR)/tools/%: tests/tools/%.c $(OBJDIR)/libpp.a | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -Wno-missing-prototypes $(LDFLAGS_ALL) \
		-o $@ $< $(OBJDIR)/libpp.a $(PKG_LIBS) $(TEST_LIBS)

unit-build: $(UNIT_BIN)
integration-build: $(PPISSUER) $(INTEG_BIN)
test-build: $(PPISSUER) $(UNIT_BIN) $(INTEG_BIN) $(TOOL_BIN)

# The criterion suites find the vectors, the server binary and the tools
# through the environment.
TEST_ENV = PP_VECTOR_DIR=$(abspath $(VECTORS)) PP_BIN=$(abspath $(PPISSUER)) \
	PP_TOOLS=$(abspath $(OBJDIR)/tools) PP_SRC=$(CURDIR)

# ---- running the tests ------------------------------------------------------
#   make unit            pp-unit, CRIT_JOBS tests at a time
#   make integration     pp-integration: the suites that measure nothing in
#                        parallel, then the timing suites alone
#   make test            unit and interop side by side, bench smoke, then
#                        integration; a time table and the criterion
#                        summaries close the output
#   FILTER='auth/*'      one suite (or any criterion pattern) of unit or
#                        integration; CRIT_ARGS=--verbose for per-test times
CRIT_JOBS ?= 2
# the integration suites that measure nothing mostly wait (sleeps, reloads)
INTEG_JOBS ?= 3
FILTER ?=
CRIT_ARGS ?=
# Suites that measure latency or throughput: they run one test at a time
# with nothing else on the CPU (this is a 2-core machine).
SOLO_SUITES := trickle|burst|slowclient|redis_pause|rcluster|workers
LOG_DIR := $(OBJDIR)/test-logs
ifeq ($(SAN),1)
# a leak, an overflow or undefined behaviour fails the run
RUN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
endif

# $(call timed,STEP,COMMAND): runs COMMAND with its output on the terminal
# and in LOG_DIR/STEP.log, its exit status in LOG_DIR/STEP.rc and its wall
# time in LOG_DIR/times. It never fails by itself: $(call passed,STEPS) does.
define timed
	@mkdir -p $(LOG_DIR); t0=$$(date +%s.%N); \
	{ $(2); echo $$? > $(LOG_DIR)/$(1).rc; } 2>&1 | tee $(LOG_DIR)/$(1).log; \
	s=$$(awk -v a=$$t0 -v b=$$(date +%s.%N) 'BEGIN { printf "%.1f", b - a }'); \
	echo "$(1) $$s $$(cat $(LOG_DIR)/$(1).rc)" >> $(LOG_DIR)/times; \
	echo "== $(1): $$s s, exit status $$(cat $(LOG_DIR)/$(1).rc)"
endef
passed = @for s in $(1); do test "$$(cat $(LOG_DIR)/$$s.rc 2>/dev/null)" = 0 || exit 1; done
# $(call failures,STEPS): repeats each failed test's name and assertion at the
# end, where a long log's tail (all a CI page may keep) still shows them.
define failures
	@for s in $(1); do \
		test "$$(cat $(LOG_DIR)/$$s.rc 2>/dev/null)" = 0 && continue; \
		echo "== $$s failed:"; \
		sed 's/\x1b\[[0-9;]*m//g' $(LOG_DIR)/$$s.log 2>/dev/null | \
			grep -E '^\[(FAIL|----)\]|CRASH|ERROR: (Address|Leak)Sanitizer|runtime error:' | \
			grep -v -- '-----' | head -40; \
	done
endef

unit: $(UNIT_BIN)
	$(call timed,unit,$(RUN_ENV) $(TEST_ENV) $(UNIT_BIN) --jobs $(CRIT_JOBS) \
		$(if $(FILTER),--filter '$(FILTER)') $(CRIT_ARGS))
	$(call passed,unit)

ifneq ($(FILTER),)
integration: $(PPISSUER) $(INTEG_BIN)
	$(call timed,integration,$(RUN_ENV) $(TEST_ENV) $(INTEG_BIN) --jobs $(CRIT_JOBS) \
		--filter '$(FILTER)' $(CRIT_ARGS))
	$(call passed,integration)
else
integration: $(PPISSUER) $(INTEG_BIN)
	$(call timed,integration,$(RUN_ENV) $(TEST_ENV) $(INTEG_BIN) --jobs $(INTEG_JOBS) \
		--filter '!(@($(SOLO_SUITES)))/*' $(CRIT_ARGS))
	$(call timed,integration-solo,$(RUN_ENV) $(TEST_ENV) $(INTEG_BIN) --jobs 1 \
		--filter '@($(SOLO_SUITES))/*' $(CRIT_ARGS))
	$(call passed,integration integration-solo)
endif

bench-smoke: $(PPISSUER) $(OBJDIR)/tools/ppclient
	$(call timed,bench-smoke,$(TEST_ENV) sh bench/run.sh --smoke)
	$(call passed,bench-smoke)

interop: $(PPISSUER) interop-deps
	$(call timed,interop,$(TEST_ENV) sh tests/interop/run.sh)
	$(call passed,interop)

# Unit tests and interop share the CPU (neither measures time). The bench
# smoke runs alone: it measures throughput, and on a busy CPU its start-up
# can read the server's log before the server has created it. Then the
# integration suites, their timing suites alone. Every step runs even when
# one fails; the summary closes the output and the exit status says whether
# all passed.
test: test-build interop-deps
	@rm -rf $(LOG_DIR) && mkdir -p $(LOG_DIR) && date +%s.%N > $(LOG_DIR)/start
	-@$(MAKE) --no-print-directory -k -j2 -O unit interop
	-@$(MAKE) --no-print-directory bench-smoke
	-@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory test-summary

test-summary:
	@echo "== wall time per step (s)"; \
	awk '{ printf "   %-18s %7.1f   exit %s\n", $$1, $$2, $$3 }' $(LOG_DIR)/times; \
	awk -v a=$$(cat $(LOG_DIR)/start) -v b=$$(date +%s.%N) \
		'BEGIN { printf "   %-18s %7.1f\n", "total (wall)", b - a }'; \
	echo "== criterion summaries"; \
	for s in unit integration integration-solo; do \
		l=$$(sed 's/\x1b\[[0-9;]*m//g' $(LOG_DIR)/$$s.log 2>/dev/null | grep 'Synthesis:' | tail -1); \
		printf '%-18s %s\n' "$$s:" "$${l:-no summary (did not run?)}"; \
	done; \
	cat $(LOG_DIR)/unit.log $(LOG_DIR)/integration.log $(LOG_DIR)/integration-solo.log \
		2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep 'Synthesis:' | awk -F'[:|]' \
		'{ t += $$3; p += $$5; f += $$7; c += $$9 } END { printf \
		"[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n", t, p, f, c }'
	$(call failures,unit bench-smoke interop integration integration-solo)
	$(call passed,unit bench-smoke interop integration integration-solo)

interop-deps: tests/interop/node_modules/.ok
tests/interop/node_modules/.ok: tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# ASan + UBSan build of the library, the server and both criterion binaries;
# a leak, an overflow or undefined behaviour fails the run.
asan:
	$(MAKE) SAN=1 unit-build integration-build
	-$(MAKE) --no-print-directory -k SAN=1 unit integration
	$(MAKE) --no-print-directory SAN=1 asan-verdict

asan-verdict:
	$(call failures,unit integration integration-solo)
	$(call passed,unit integration integration-solo)

# ---- fuzzing (clang libFuzzer) ----------------------------------------------
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
	-I. -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(shell pkg-config --cflags openssl libsodium jansson)
FUZZ_LIBS = $(shell pkg-config --libs openssl libsodium jansson)
# Parsers outside crypto/ that are kept free of HTTP so they can be fuzzed.
FUZZ_EXTRA_SRC := issuer/redeem_body.c api/framing.c issuer/tenant.c
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

$(FUZZ_DIR)/%: tests/fuzz/%.c $(CRYPTO_SRC) $(FUZZ_EXTRA_SRC) $(wildcard base/*.h crypto/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CRYPTO_SRC) $(FUZZ_EXTRA_SRC) $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS)
	@sh scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_TIME)

# ---- the rest -----------------------------------------------------------------
lint:
	@sh scripts/lint.sh

run: $(PPISSUER)
	$(PPISSUER) serve --data-dir ./data

bench: $(PPISSUER) $(OBJDIR)/tools/ppclient | $(DEPS_STAMP)
	@$(TEST_ENV) sh bench/run.sh

# make bench-ab OLD=<commit>: that commit's server (A) against this tree's
# (B), in alternating rounds of one run (bench/ab.sh).
bench-ab: $(PPISSUER) $(OBJDIR)/tools/ppclient | $(DEPS_STAMP)
	@test -n "$(OLD)" || { echo "usage: make bench-ab OLD=<commit>" >&2; exit 2; }
	rm -rf $(BUILD)/ab-old && git worktree prune && \
		git worktree add --detach -f $(BUILD)/ab-old $(OLD) >/dev/null
	$(MAKE) -C $(BUILD)/ab-old -j2 all
	@$(TEST_ENV) sh bench/ab.sh $(BUILD)/ab-old/build/bin/ppissuer $(PPISSUER); rc=$$?; \
		git worktree remove --force $(BUILD)/ab-old; exit $$rc

install: $(PPISSUER)
	install -D -m 0755 $(PPISSUER) $(DESTDIR)$(PREFIX)/bin/ppissuer

container-test:
	sh tests/container/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
