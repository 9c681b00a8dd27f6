# frx: GNU make (on FreeBSD: gmake).  `make`, `make check`, `make install`.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/frx
LIBEXECDIR ?= $(PREFIX)/libexec/frx
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
# lib/hashpipe.c hashes on a second thread.
PTHREAD = -pthread
WERROR ?= -Werror
OS := $(shell uname -s)

WARN = -std=c11 -Wall -Wextra $(WERROR) -Wno-unused-parameter
ifeq ($(OS),Linux)
OSDEFS = -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
SANDBOX_OS = sandbox/linux.c
OSLIBS = -lseccomp
# PID 1 of every sandbox (sandbox/reaper.c): static, with musl where
# there is one, since a static glibc binary is slow to start.
REAPER = $(B)/frx-reaper
# The unit tests run from $(B)/tests, and find it beside themselves.
TEST_REAPER = $(B)/tests/frx-reaper
REAPER_CC := $(shell command -v musl-gcc 2>/dev/null || echo $(CC))
endif
ifeq ($(OS),FreeBSD)
OSDEFS =
SANDBOX_OS = sandbox/freebsd.c
OSLIBS = -ljail
endif

PKG_CONFIG ?= pkg-config
CRYPTO_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcrypto)
CRYPTO_LIBS := $(shell $(PKG_CONFIG) --libs libcrypto)
SQLITE_CFLAGS := $(shell $(PKG_CONFIG) --cflags sqlite3)
SQLITE_LIBS := $(shell $(PKG_CONFIG) --libs sqlite3)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl)
# libcurl is dlopen'd by the download child (daemon/fetch.c), not linked.
ifeq ($(OS),Linux)
DL_LIBS = -ldl
endif
GUILE_CFLAGS := $(shell $(PKG_CONFIG) --cflags guile-3.0)
GUILE_LIBS := $(shell $(PKG_CONFIG) --libs guile-3.0)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
BZ2_LIBS = -lbz2

ALL_CFLAGS = $(WARN) $(OSDEFS) $(CFLAGS) $(PTHREAD) $(CRYPTO_CFLAGS) $(SQLITE_CFLAGS) \
	-DFRX_DATADIR='"$(DATADIR)"' -DFRX_BINDIR='"$(BINDIR)"' \
	-DFRX_LIBEXECDIR='"$(LIBEXECDIR)"'

# The daemon binds every symbol at start (and keeps its relocations
# read-only): its sessions, runners and sandbox processes are forks, and
# each would otherwise resolve the same symbols again on first use.
DAEMON_LDFLAGS = -Wl,-z,relro,-z,now

B = build
LIB_SRC = $(wildcard lib/*.c) $(wildcard proto/*.c)
SANDBOX_SRC = sandbox/plan.c sandbox/backend.c $(SANDBOX_OS)
DAEMON_SRC = $(wildcard daemon/*.c)
CLI_SRC = $(wildcard cli/*.c)
TEST_SRC = $(wildcard tests/unit/test-*.c)
ifeq ($(OS),FreeBSD)
# The sandbox test starts Linux namespaces; the jail has no test yet.
TEST_SRC := $(filter-out tests/unit/test-sandbox-linux.c,$(TEST_SRC))
endif

LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
SANDBOX_OBJ = $(SANDBOX_SRC:%.c=$(B)/%.o)
DAEMON_OBJ = $(DAEMON_SRC:%.c=$(B)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(B)/%.o)
TESTS = $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)

PROGS = $(B)/frx $(B)/frx-daemon $(B)/frx-drop-exec

# The directories compiled into the programs: a `make install` with
# another LIBEXECDIR (say) than the build's compiles them again, rather
# than installing programs that look for frx-reaper where it is not.
PATHS = $(BINDIR) $(DATADIR) $(LIBEXECDIR)
PATHS_STAMP = $(B)/paths
# Not under make -n or -q, which must change nothing.
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),)
$(shell mkdir -p $(B) && { echo '$(PATHS)' | cmp -s - $(PATHS_STAMP) || \
	echo '$(PATHS)' >$(PATHS_STAMP); })
endif

all: $(PROGS) $(REAPER) $(TEST_REAPER) $(TESTS)

$(LIB_OBJ) $(SANDBOX_OBJ) $(DAEMON_OBJ) $(CLI_OBJ) $(TESTS): $(PATHS_STAMP)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(GUILE_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/daemon/%.o: daemon/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CURL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libfrx.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libsandbox.a: $(SANDBOX_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/frx-daemon: $(DAEMON_OBJ) $(B)/libsandbox.a $(B)/libfrx.a
	$(CC) $(CFLAGS) $(PTHREAD) $(DAEMON_LDFLAGS) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(B)/libsandbox.a $(B)/libfrx.a \
		$(DL_LIBS) $(BZ2_LIBS) $(SQLITE_LIBS) $(CRYPTO_LIBS) $(OSLIBS)

$(B)/frx: $(CLI_OBJ) $(B)/libfrx.a
	$(CC) $(CFLAGS) $(PTHREAD) -o $@ $(CLI_OBJ) $(B)/libfrx.a $(GUILE_LIBS) \
		$(BZ2_LIBS) $(SQLITE_LIBS) $(CRYPTO_LIBS)

$(B)/frx-drop-exec: helper/frx-drop-exec.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OSDEFS) $(CFLAGS) -o $@ $<

$(B)/frx-reaper: sandbox/reaper.c
	@mkdir -p $(dir $@)
	$(REAPER_CC) $(WARN) $(OSDEFS) -O2 -static -o $@ $<

$(B)/tests/frx-reaper: $(B)/frx-reaper
	@mkdir -p $(dir $@)
	cp -p $< $@

$(B)/tests/%: tests/unit/%.c $(B)/libsandbox.a $(B)/libfrx.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libsandbox.a $(B)/libfrx.a \
		$(CMOCKA_LIBS) $(SQLITE_LIBS) $(CRYPTO_LIBS) $(OSLIBS)

check: all
	tests/run-all.sh

install: $(PROGS) $(REAPER)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)/
	[ -z "$(REAPER)" ] || { install -d $(DESTDIR)$(LIBEXECDIR) && \
		install -m 0755 $(REAPER) $(DESTDIR)$(LIBEXECDIR)/; }
	cp -R scheme/. $(DESTDIR)$(DATADIR)/
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in man/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man8/; done; true

clean:
	rm -rf $(B)

.PHONY: all check install clean
-include $(shell find $(B) -name '*.d' 2>/dev/null)
