# mcpgate — build, run, test, install.
#
#   make            build every program into build/cgi-bin/
#   make run        start lighttpd on 127.0.0.1:$(PORT) with every program (dev config under run/)
#   make test       install what the tests need, then run every test (TAP, via prove)
#   make check-asan unit tests under AddressSanitizer + UBSan
#   make check-config CONFIG=/etc/mcpgate/mcpgate.conf
#   make install    PREFIX=/usr/local DESTDIR=
#   make lint       banned functions, clang-format check, cppcheck

CC      ?= cc
PORT    ?= 8080
BUILD   ?= build
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
CGIDIR  ?= $(PREFIX)/lib/mcpgate/cgi-bin
WEBUSER ?= www-data

PKGS      := fcgi json-c libcurl openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is compiled against (its header) but not linked: src/fetch.c loads
# libcurl.so.4 (Debian: libcurl4) with dlopen the first time a program makes
# an outbound request, so it must be installed at run time all the same.
# dlopen is in libc from glibc 2.34 on.  gdbm ships no .pc file on Debian.
LINK_PKGS := fcgi json-c openssl
PKG_LIBS  := $(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null) -lgdbm -lpthread

WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wwrite-strings -Wformat=2 \
            -Wmissing-prototypes -Wstrict-prototypes -Wvla
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
            -fPIE -fno-strict-overflow
LDHARDEN := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
# Record only the libraries a program calls into: every library loaded costs
# each process its relocated data and start-up, used or not.
LDLINK   := -Wl,--as-needed
OPT      ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Isrc
ALL_CFLAGS = $(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDHARDEN) $(LDLINK) $(LDFLAGS) $(EXTRA_LDFLAGS)

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/libmcpgate.a
PROGS   := $(patsubst cgi-bin/%.c,$(BUILD)/cgi-bin/%,$(wildcard cgi-bin/*.c))
TOOLS   := $(patsubst tools/%.c,$(BUILD)/bin/%,$(wildcard tools/*.c))
UNITSRC := $(wildcard tests/unit/test_*.c)
UNIT    := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNITSRC))
FUZZSRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY  := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/fuzz/replay_%,$(FUZZSRC))
BENCHSRC := $(wildcard bench/*.c)
BENCH   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCHSRC))

.PHONY: all programs unit replay fuzz clean run test check check-asan check-config install lint bench
all: programs unit replay

# The FastCGI programs (build/cgi-bin) and the admin tools (build/bin); tools
# never go into a cgi-bin directory, where a web server could run them.
programs: $(PROGS) $(TOOLS)
unit: $(UNIT)
replay: $(REPLAY)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/cgi-bin/%: cgi-bin/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS)

$(BUILD)/bin/%: tools/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/tap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS)

# Fuzz targets: replayed over their corpus in every test run (any compiler),
# fuzzed for real with clang's libFuzzer by `make fuzz`.
$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS)

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) CC=clang BUILD=build/fuzz OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build/fuzz/libmcpgate.a
	@mkdir -p build/fuzz/bin
	@for f in $(FUZZSRC); do n=$$(basename $$f .c); t=$${n#fuzz_}; \
	  clang $(CPPFLAGS) $(PKG_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o build/fuzz/bin/$$n \
	    $$f build/fuzz/libmcpgate.a $(PKG_LIBS) || exit 1; \
	  mkdir -p tests/fuzz/corpus/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  build/fuzz/bin/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=8192 tests/fuzz/corpus/$$t || exit 1; \
	done

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS)

clean:
	rm -rf build

# The sanitizer build lives beside the normal one.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-asan:
	$(MAKE) BUILD=build/asan OPT="$(ASAN_FLAGS)" EXTRA_LDFLAGS="-fsanitize=address,undefined" unit programs replay
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  prove --exec '' build/asan/tests/unit/* tests/fuzz/replay.t

run: programs
	@scripts/run.sh

test:
	@scripts/test.sh

check: test

CONFIG ?= /etc/mcpgate/mcpgate.conf
check-config: $(BUILD)/bin/mcpgate-check-config
	$(BUILD)/bin/mcpgate-check-config $(CONFIG)

bench: programs $(BENCH)
	@bench/run.sh

install: programs
	install -d -m 0755 $(DESTDIR)$(CGIDIR) $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(TOOLS) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(PROGS) $(DESTDIR)$(CGIDIR)/
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/mcpgate
	test -e $(DESTDIR)$(SYSCONFDIR)/mcpgate/mcpgate.conf || \
	  install -m 0640 etc/mcpgate.conf.example $(DESTDIR)$(SYSCONFDIR)/mcpgate/mcpgate.conf
	install -d -m 0700 $(DESTDIR)$(LOCALSTATEDIR)/lib/mcpgate
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/mcpgate
	install -m 0644 lighttpd.conf $(DESTDIR)$(PREFIX)/share/mcpgate/lighttpd.conf
	cp -R apache $(DESTDIR)$(PREFIX)/share/mcpgate/
	test -e $(DESTDIR)$(LOCALSTATEDIR)/lib/mcpgate/keys || \
	  $(BUILD)/bin/mcpgate-keygen $(DESTDIR)$(LOCALSTATEDIR)/lib/mcpgate/keys
	-if [ -z "$(DESTDIR)" ] && id $(WEBUSER) >/dev/null 2>&1; then \
	  chown -R $(WEBUSER): $(LOCALSTATEDIR)/lib/mcpgate; \
	  chgrp $(WEBUSER) $(SYSCONFDIR)/mcpgate/mcpgate.conf; fi

BANNED := '\<(sprintf|vsprintf|strcat|strcpy|strncpy|strtok|gets|atoi|atol|rand|srand)[[:space:]]*\('
lint:
	@if grep -nE $(BANNED) src/*.c src/*.h cgi-bin/*.c tools/*.c; then echo "lint: banned function"; exit 1; fi
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -D_GNU_SOURCE -Isrc src cgi-bin tools
	@echo "lint: ok"
