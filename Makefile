# ppissuer: Privacy Pass token issuer.  Plain GNU make + pkg-config.
#   make            build build/bin/ppissuer (release flags)
#   make test       unit, integration, interop and bench-smoke tests
#   make asan       the criterion suite under ASan + UBSan (leaks fail)
#   make fuzz       libFuzzer targets, FUZZ_TIME seconds each
#   make lint       layering rules, cppcheck, Dockerfile lint
#   make run        start an issuer on 127.0.0.1:8080 with ./data
#   make bench      issuance / redemption throughput vs. openssl speed

VERSION := 0.1.0
BUILD ?= build
VECTORS ?= tests/vectors
FUZZ_TIME ?= 10
PREFIX ?= /usr/local

PKGS := openssl libmicrohttpd jansson libsodium lmdb hiredis gnutls
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

LIB_SRC := $(wildcard crypto/*.c keys/*.c issuer/*.c api/*.c)
LIB_SRC := $(filter-out issuer/main.c,$(LIB_SRC))
UNIT_SRC := $(wildcard tests/unit/*.c)
INTEG_SRC := $(wildcard tests/integration/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
CRYPTO_SRC := $(wildcard crypto/*.c)

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
MAIN_OBJ := $(OBJDIR)/issuer/main.o
BIN_DIR := $(if $(filter 1,$(SAN)),$(BUILD)/asan/bin,$(BUILD)/bin)
PPISSUER := $(BIN_DIR)/ppissuer
TESTBIN := $(BIN_DIR)/pp-tests

.PHONY: all deps test unit asan fuzz lint run bench clean install \
	interop test-build bench-smoke container-test
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

$(TESTBIN): $(UNIT_OBJ) $(INTEG_OBJ) $(OBJDIR)/libpp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(OBJDIR)/tools/%: tests/tools/%.c $(OBJDIR)/libpp.a | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -Wno-missing-prototypes $(LDFLAGS_ALL) \
		-o $@ $< $(OBJDIR)/libpp.a $(PKG_LIBS) $(TEST_LIBS)

test-build: $(PPISSUER) $(TESTBIN) $(TOOL_BIN)

# The criterion suite finds the vectors, the server binary and the tools
# through the environment.
TEST_ENV = PP_VECTOR_DIR=$(abspath $(VECTORS)) PP_BIN=$(abspath $(PPISSUER)) \
	PP_TOOLS=$(abspath $(OBJDIR)/tools) PP_SRC=$(CURDIR)

unit: test-build
	$(TEST_ENV) $(TESTBIN) --jobs 2

# The criterion suite runs last so its summary closes the output.
test: test-build interop-deps
	$(TEST_ENV) sh bench/run.sh --smoke
	$(TEST_ENV) sh tests/interop/run.sh
	$(TEST_ENV) $(TESTBIN) --jobs 2

interop-deps: tests/interop/node_modules/.ok
tests/interop/node_modules/.ok: tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# ASan + UBSan build of the library, the server and the criterion suite;
# a leak, an overflow or undefined behaviour fails the run.
asan:
	$(MAKE) SAN=1 test-build
	$(MAKE) SAN=1 unit-san

unit-san:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(TEST_ENV) $(TESTBIN) --jobs 2

# ---- fuzzing (clang libFuzzer) ----------------------------------------------
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
	-I. -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(shell pkg-config --cflags openssl libsodium jansson)
FUZZ_LIBS = $(shell pkg-config --libs openssl libsodium jansson)
# Parsers outside crypto/ that are kept free of HTTP so they can be fuzzed.
FUZZ_EXTRA_SRC := issuer/redeem_body.c api/framing.c
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

$(FUZZ_DIR)/%: tests/fuzz/%.c $(CRYPTO_SRC) $(FUZZ_EXTRA_SRC) $(wildcard crypto/*.h) | $(DEPS_STAMP)
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

install: $(PPISSUER)
	install -D -m 0755 $(PPISSUER) $(DESTDIR)$(PREFIX)/bin/ppissuer

container-test:
	sh tests/container/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
