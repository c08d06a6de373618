# sandboxd: plain Makefile with -MMD dependency files and quiet output.
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   := build
CC      ?= cc

PKGS     := libseccomp libcap jansson
CPPFLAGS += -D_GNU_SOURCE -Iruntime -MMD -MP -DSBX_DATADIR=\"$(PREFIX)/share/sandboxd\"
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation
HARDEN   := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -fno-strict-overflow
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) $(HARDEN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS  += -pie -Wl,-z,relro,-z,now
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

RT_SRC   := $(wildcard runtime/*.c)
# sbx-exec, the daemon's client, is a program of its own: it links libcurl, which
# Debian ships only shared, while sbx is static (cli/exec_cmd.c execs it).
# CURL_ONLY: the requests to the daemon, shared with sbx-workflow.
CURL_ONLY := cli/daemon_http.c
EXEC_ONLY := cli/sbx_exec.c cli/exec_http.c cli/exec_opts.c cli/exec_answer.c
EXEC_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(EXEC_ONLY) $(CURL_ONLY) cli/outcome.c)
# sbx-workflow: workflows run here (the orchestrator: SQLite, libarchive) and the
# daemon's workflow API (libcurl); dynamic like sbx-exec, exec'd the same way.
WF_ONLY  := $(wildcard cli/workflow_*.c)
WF_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(WF_ONLY) $(CURL_ONLY) cli/exec_opts.c \
            cli/exec_answer.c cli/outcome.c)
CLI_SRC  := $(filter-out $(EXEC_ONLY) $(CURL_ONLY) $(WF_ONLY),$(wildcard cli/*.c))
# sandboxd-spawner: the process sandboxes are forked from, static like sbx.
SPAWNER_SRC := sandboxd/spawner_main.c sandboxd/spawn_frame.c
SPAWNER_OBJ := $(SPAWNER_SRC:%.c=$(BUILD)/obj/%.o)
SD_SRC   := $(filter-out sandboxd/spawner_main.c,$(wildcard sandboxd/*.c))
SD_OBJ   := $(SD_SRC:%.c=$(BUILD)/obj/%.o)
SD_LIB_SAN := $(patsubst %.c,$(BUILD)/san/%.o,$(filter-out sandboxd/main.c,$(SD_SRC)))
ORCH_SRC := $(wildcard orchestrator/*.c)
ORCH_SAN := $(ORCH_SRC:%.c=$(BUILD)/san/%.o)
ORCH_OBJ := $(ORCH_SRC:%.c=$(BUILD)/obj/%.o)
ORCH_LIBS := $(shell pkg-config --libs sqlite3 libarchive 2>/dev/null)
UNIT_SRC := $(wildcard tests/runtime/*.c tests/cli/*.c tests/sandboxd/*.c tests/orchestrator/*.c)
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
RT_SAN   := $(RT_SRC:%.c=$(BUILD)/san/%.o)
CLI_LIB_SAN := $(patsubst %.c,$(BUILD)/san/%.o,$(filter-out cli/main.c cli/sbx_exec.c \
               cli/exec_http.c $(CURL_ONLY) $(WF_ONLY),$(wildcard cli/*.c)))
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%.t)

ifeq ($(V),1)
Q :=
else
Q := @
endif

DEBS := build-essential pkg-config libseccomp-dev libcap-dev libjansson-dev \
        libcurl4-openssl-dev libarchive-dev libmicrohttpd-dev libsqlite3-dev \
        perl iproute2 procps bubblewrap hyperfine busybox-static python3 curl bc strace

# The library's API; the other headers are internal.
PUBLIC_H := error.h spec.h result.h sandbox.h spec_json.h parse.h cgroup.h seccomp_policy.h \
            profile.h

.PHONY: all check unit bench deps install clean format lint
# Keep the sanitizer objects the tests link: they are not throwaway intermediates.
.SECONDARY:
all: $(BUILD)/sbx $(BUILD)/libsbxrt.a $(BUILD)/sbx-exec $(BUILD)/sbx-workflow $(BUILD)/sandboxd \
     $(BUILD)/sandboxd-spawner

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=hidden -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -O1 -c -o $@ $<

$(BUILD)/libsbxrt.a: $(RT_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libsbxrt-san.a: $(RT_SAN)
	$(Q)rm -f $@ && ar rcs $@ $^

# sbx links statically: no dynamic loader work on every sandboxed command.
$(BUILD)/sbx: $(CLI_OBJ) $(BUILD)/libsbxrt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -static-pie -Wl,-z,relro,-z,now -o $@ $(CLI_OBJ) $(BUILD)/libsbxrt.a \
	    $(shell pkg-config --static --libs $(PKGS) 2>/dev/null) -lpthread

$(BUILD)/obj/cli/exec_http.o $(BUILD)/obj/cli/sbx_exec.o $(CURL_ONLY:%.c=$(BUILD)/obj/%.o): \
    CFLAGS += $(shell pkg-config --cflags libcurl 2>/dev/null)

# Linked dynamically; --as-needed leaves out the runtime's libraries it does not use.
$(BUILD)/sbx-exec: $(EXEC_OBJ) $(BUILD)/libsbxrt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $(EXEC_OBJ) $(BUILD)/libsbxrt.a \
	    $(shell pkg-config --libs libcurl 2>/dev/null) $(LDLIBS)

$(BUILD)/obj/cli/workflow_%.o: CPPFLAGS += -Iorchestrator -Isandboxd
$(BUILD)/obj/cli/workflow_%.o: CFLAGS += $(shell pkg-config --cflags libcurl 2>/dev/null)
$(BUILD)/sbx-workflow: $(WF_OBJ) $(ORCH_OBJ) $(BUILD)/obj/sandboxd/languages.o $(BUILD)/libsbxrt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $(WF_OBJ) $(ORCH_OBJ) \
	    $(BUILD)/obj/sandboxd/languages.o $(BUILD)/libsbxrt.a \
	    $(shell pkg-config --libs libcurl 2>/dev/null) $(ORCH_LIBS) $(LDLIBS)

# The daemon: dynamic (libmicrohttpd), one thread per connection.
# It runs workflows with the orchestrator (SQLite, libarchive).
$(BUILD)/obj/sandboxd/%.o $(BUILD)/san/sandboxd/%.o: CPPFLAGS += -Iorchestrator
$(BUILD)/sandboxd: $(SD_OBJ) $(ORCH_OBJ) $(BUILD)/libsbxrt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $(SD_OBJ) $(ORCH_OBJ) $(BUILD)/libsbxrt.a \
	    $(shell pkg-config --libs libmicrohttpd 2>/dev/null) $(ORCH_LIBS) $(LDLIBS)

# Every run forks it: static, a copy of it is a fraction of a copy of the daemon.
$(BUILD)/sandboxd-spawner: $(SPAWNER_OBJ) $(BUILD)/libsbxrt.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -static-pie -Wl,-z,relro,-z,now -o $@ $(SPAWNER_OBJ) $(BUILD)/libsbxrt.a \
	    $(shell pkg-config --static --libs $(PKGS) 2>/dev/null) -lpthread

# Unit tests build with ASan+UBSan; they link the runtime and the CLI's modules.
$(BUILD)/tests/%.t: tests/%.c tests/tap.h $(BUILD)/libsbxrt-san.a $(CLI_LIB_SAN)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests -Icli $(CFLAGS) $(SAN) -O1 $(LDFLAGS) -o $@ $< \
	    $(CLI_LIB_SAN) $(BUILD)/libsbxrt-san.a $(LDLIBS)

# pid 1 shares the caller's memory only without AddressSanitizer (runtime/native.c):
# this test is of that path, so it links the library as installed.
$(BUILD)/tests/runtime/pid1.t: tests/runtime/pid1.c tests/tap.h $(BUILD)/libsbxrt.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsbxrt.a $(LDLIBS)

# The daemon's modules, tested without the HTTP layer's main.
SD_UNIT_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%.t,$(wildcard tests/sandboxd/*.c))
$(SD_UNIT_BIN): $(BUILD)/tests/sandboxd/%.t: tests/sandboxd/%.c tests/tap.h $(BUILD)/libsbxrt-san.a \
                $(SD_LIB_SAN) $(ORCH_SAN)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests -Isandboxd -Iorchestrator $(CFLAGS) $(SAN) -O1 $(LDFLAGS) -o $@ $< \
	    $(SD_LIB_SAN) $(ORCH_SAN) $(BUILD)/libsbxrt-san.a \
	    $(shell pkg-config --libs libmicrohttpd 2>/dev/null) $(ORCH_LIBS) $(LDLIBS)

# The orchestrator's modules.
ORCH_UNIT_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%.t,$(wildcard tests/orchestrator/*.c))
$(ORCH_UNIT_BIN): $(BUILD)/tests/orchestrator/%.t: tests/orchestrator/%.c tests/tap.h \
                  $(BUILD)/libsbxrt-san.a $(ORCH_SAN)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests -Iorchestrator $(CFLAGS) $(SAN) -O1 $(LDFLAGS) -o $@ $< \
	    $(ORCH_SAN) $(BUILD)/libsbxrt-san.a $(ORCH_LIBS) $(LDLIBS)

# In-process stage breakdown of a sandbox start (run by bench/run.sh).
$(BUILD)/bench/stages: bench/stages.c $(BUILD)/libsbxrt.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsbxrt.a $(LDLIBS)

# Load generator for the daemon benchmark (bench/daemon.sh): libcurl clients.
$(BUILD)/bench/load: bench/load.c bench/client_util.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(shell pkg-config --cflags libcurl 2>/dev/null) $(LDFLAGS) \
	    -o $@ $< $(shell pkg-config --libs libcurl jansson 2>/dev/null) -lpthread

# The workflow benchmark's clients (bench/workflows.py).
$(BUILD)/bench/chains: bench/chains.c bench/client_util.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(shell pkg-config --libs jansson 2>/dev/null) -lpthread

# Hostile programs for tests/security: static, so they run in any image.
$(BUILD)/tests/security/attack: tests/security/attack.c
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -D_GNU_SOURCE -std=gnu11 -O1 -Wall -Wextra -Werror -static -o $@ $<

unit: $(UNIT_BIN)

check: all $(UNIT_BIN) $(BUILD)/tests/security/attack lint
	prove -f $(UNIT_BIN) tests/integration/*.t tests/daemon/*.t tests/security/*.t

bench: all $(BUILD)/bench/stages $(BUILD)/bench/load $(BUILD)/bench/chains
	bench/run.sh

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/sbx
	install -m 0755 $(BUILD)/sbx $(DESTDIR)$(PREFIX)/bin/sbx
	install -m 0755 $(BUILD)/sandboxd $(DESTDIR)$(PREFIX)/bin/sandboxd
	install -d $(DESTDIR)$(PREFIX)/libexec/sandboxd
	install -m 0755 $(BUILD)/sbx-exec $(DESTDIR)$(PREFIX)/libexec/sandboxd/sbx-exec
	install -m 0755 $(BUILD)/sandboxd-spawner $(DESTDIR)$(PREFIX)/libexec/sandboxd/sandboxd-spawner
	install -m 0755 $(BUILD)/sbx-workflow $(DESTDIR)$(PREFIX)/libexec/sandboxd/sbx-workflow
	install -m 0644 $(BUILD)/libsbxrt.a $(DESTDIR)$(PREFIX)/lib/libsbxrt.a
	install -m 0644 $(addprefix runtime/,$(PUBLIC_H)) $(DESTDIR)$(PREFIX)/include/sbx/
	install -d $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/seccomp
	install -m 0644 profiles/*.json $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/
	install -m 0644 sandboxd/languages.json $(DESTDIR)$(PREFIX)/share/sandboxd/languages.json
	install -m 0644 profiles/seccomp/*.json $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/seccomp/

# Bans functions with no bound on what they write.
lint:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets)\s*\(' runtime/*.c cli/*.c sandboxd/*.c orchestrator/*.c tests/*/*.c \
	    || (echo "unsafe function used (see above)"; false)

format:
	clang-format -i runtime/*.[ch] cli/*.[ch] sandboxd/*.[ch] orchestrator/*.[ch] tests/*/*.c tests/*.h

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
