# mailsuite - smtpd, pop3d, imapd and libspool.  One non-recursive GNU Makefile.
#
#   make            libspool/libspool.a and the three servers (optimised, hardened)
#   make check      installs missing build/test packages (deps), builds, runs every test:
#                   cmocka unit and session tests under ASan+UBSan (gcc), the end-to-end
#                   tests on the real binaries, then the servers and unit tests again built with clang
#   make bench      benchmarks (not part of check)
#   make run        the lab: the three servers on 127.0.0.1 (2525, 1110, 1143)
#   make install / uninstall   honour PREFIX (default /usr/local) and DESTDIR
#
# Sources are found by wildcard: a new .c file in libspool/ or a server directory is
# built with no edit here.  Each server's objects except main.o also go into an archive
# that the tests link, so every state machine is testable without its main().

PREFIX    ?= /usr/local
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= /lib/systemd/system
DESTDIR   ?=

CC        ?= cc
WARN       = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wpointer-arith -Wno-format-nonliteral
CPPFLAGS  += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilibspool
OPT        = -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CFLAGS    ?= $(OPT)
LDFLAGS   ?= -pie -Wl,-z,relro,-z,now
# libspool scans a big mailbox with one thread per processor (mbox.c).
THREADS    = -pthread
LDLIBS     = $(THREADS) -lpam -lcrypt

SERVERS    = smtpd pop3d imapd

# ---- the release build -----------------------------------------------------------------
# OUT is where the build goes: by default the tree itself (libspool/libspool.a,
# smtpd/smtpd, ...; objects under build/obj).  Two builds can run side by side
# with different OUT (make OUT=build/other check).

OUT       ?= .
OBJ        = $(OUT)/build/obj

LIB_SRC    = $(sort $(wildcard libspool/*.c))
LIB_OBJ    = $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRC))
HDRS       = $(wildcard libspool/*.h) $(foreach s,$(SERVERS),$(wildcard $(s)/*.h))

srv_src    = $(sort $(wildcard $(1)/*.c))
srv_obj    = $(patsubst %.c,$(OBJ)/%.o,$(call srv_src,$(1)))

# Servers that exist (a directory with a main.c).
BUILT_SERVERS = $(foreach s,$(SERVERS),$(if $(wildcard $(s)/main.c),$(s)))
BINS       = $(foreach s,$(BUILT_SERVERS),$(OUT)/$(s)/$(s))
LIBSPOOL   = $(OUT)/libspool/libspool.a

all: $(LIBSPOOL) $(BINS)

$(OBJ)/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(THREADS) $(CFLAGS) -c -o $@ $<

$(LIBSPOOL): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define server_rules
$(OUT)/$(1)/$(1): $(call srv_obj,$(1)) $(LIBSPOOL)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $(call srv_obj,$(1)) $(LIBSPOOL) $$(LDLIBS)
endef
$(foreach s,$(BUILT_SERVERS),$(eval $(call server_rules,$(s))))

# ---- the test build: ASan + UBSan, out of tree ----------------------------------------

T         ?= $(OUT)/build/test
TCC       ?= $(CC)
TFLAGS     = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined
TEST_SRC   = $(sort $(wildcard tests/unit/test_*.c))
TLIB_SRC   = $(sort $(wildcard tests/lib/*.c))
TEST_BINS  = $(patsubst tests/unit/%.c,$(T)/%,$(TEST_SRC))

t_lib_obj  = $(patsubst %.c,$(T)/%.o,$(LIB_SRC))
t_srv_obj  = $(patsubst %.c,$(T)/%.o,$(filter-out $(1)/main.c,$(call srv_src,$(1))))
T_ARCHIVES = $(foreach s,$(BUILT_SERVERS),$(T)/lib$(s).a) $(T)/libtest.a $(T)/libspool.a

$(T)/%.o: %.c $(HDRS) $(wildcard tests/lib/*.h) Makefile
	@mkdir -p $(dir $@)
	$(TCC) $(WARN) $(CPPFLAGS) -Itests/lib $(THREADS) $(TFLAGS) -c -o $@ $<

$(T)/libspool.a: $(t_lib_obj)
	rm -f $@ && ar rcs $@ $^
$(T)/libtest.a: $(patsubst %.c,$(T)/%.o,$(TLIB_SRC))
	rm -f $@ && ar rcs $@ $^

define server_test_rules
$(T)/lib$(1).a: $(call t_srv_obj,$(1))
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach s,$(BUILT_SERVERS),$(eval $(call server_test_rules,$(s))))

# Archives are listed twice so that servers, test helpers and libspool may
# refer to one another in any order.
$(T)/test_%: $(T)/tests/unit/test_%.o $(T_ARCHIVES)
	$(TCC) $(TFLAGS) -o $@ $< $(T_ARCHIVES) $(T_ARCHIVES) -lcmocka $(LDLIBS)

# Keep the test objects between runs (they are intermediate files to make).
.SECONDARY:

test-bins: $(TEST_BINS)

# Run every unit test; cmocka prints its summary per test program.  The run
# fails if any program fails, after running them all.
unit: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
		echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		SRCDIR=$(CURDIR) MS_OUT=$(abspath $(OUT)) $$t || fail=1; \
	done; exit $$fail

# ---- end-to-end tests: the release binaries behind a real socket launcher ------------

e2e: all
	@SRCDIR=$(CURDIR) MS_OUT=$(abspath $(OUT)) sh tests/e2e/run

# ---- everything -----------------------------------------------------------------------

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e
	@if command -v clang >/dev/null 2>&1; then \
		echo "== the servers and the unit tests again, built with clang"; \
		$(MAKE) CC=clang OUT=$(OUT)/build/clang all || exit 1; \
		$(MAKE) CC=clang TCC=clang OUT=$(OUT)/build/clang T=$(OUT)/build/clang/t unit || exit 1; \
	else \
		echo "== clang not found: the clang pass was skipped"; \
	fi
	@echo "== make check: all passed"

# Packages the build and the tests need (Debian 12).  Installs only what is
# missing; without root, prints the command to run.
DEB_PKGS = gcc clang make libc6-dev libpam0g-dev libcrypt-dev libcmocka-dev \
           mandoc xinetd python3 curl swaks fetchmail s-nail procps passwd \
           libpam-modules libpam-runtime systemd telnet openssl \
           procmail dovecot-core
deps:
	@sh tests/deps.sh $(DEB_PKGS)

bench: all
	@SRCDIR=$(CURDIR) MS_OUT=$(abspath $(OUT)) sh bench/run

run: deps all
	@SRCDIR=$(CURDIR) MS_OUT=$(abspath $(OUT)) sh tests/lab.sh

lint-man:
	mandoc -Tlint -W warning man/*.8

# ---- install ------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	for s in $(BUILT_SERVERS); do install -m 755 $(OUT)/$$s/$$s $(DESTDIR)$(SBINDIR)/$$s; done
	for m in $(wildcard man/*.8); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man8/; done
	install -d $(DESTDIR)$(SYSCONFDIR)/xinetd.d $(DESTDIR)$(SYSCONFDIR)/pam.d $(DESTDIR)$(SYSTEMDDIR)
	for f in $(wildcard xinetd.d/*); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$f > $(DESTDIR)$(SYSCONFDIR)/xinetd.d/$$(basename $$f); done
	for f in $(wildcard systemd/*); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$f > $(DESTDIR)$(SYSTEMDDIR)/$$(basename $$f); done
	for f in $(wildcard pam.d/*); do install -m 644 $$f $(DESTDIR)$(SYSCONFDIR)/pam.d/; done
	install -d -m 755 $(DESTDIR)/var/empty
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		getent passwd $(PRIV_USER) >/dev/null || \
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin $(PRIV_USER); \
	fi

PRIV_USER = mailsuite

uninstall:
	for s in $(SERVERS); do rm -f $(DESTDIR)$(SBINDIR)/$$s $(DESTDIR)$(MANDIR)/man8/$$s.8 \
		$(DESTDIR)$(SYSCONFDIR)/xinetd.d/$$s $(DESTDIR)$(SYSCONFDIR)/pam.d/$$s \
		$(DESTDIR)$(SYSTEMDDIR)/$$s.socket $(DESTDIR)$(SYSTEMDDIR)/$$s@.service; done

clean:
	rm -rf build libspool/libspool.a $(foreach s,$(SERVERS),$(s)/$(s))

.PHONY: all check unit e2e deps bench run install uninstall clean lint-man test-bins
