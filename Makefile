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
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/runtime/*.c tests/cli/*.c)
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
RT_SAN   := $(RT_SRC:%.c=$(BUILD)/san/%.o)
CLI_LIB_SAN := $(filter-out $(BUILD)/san/cli/main.o,$(CLI_SRC:%.c=$(BUILD)/san/%.o))
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%.t)

ifeq ($(V),1)
Q :=
else
Q := @
endif

DEBS := build-essential pkg-config libseccomp-dev libcap-dev libjansson-dev \
        libcurl4-openssl-dev libarchive-dev libmicrohttpd-dev libsqlite3-dev \
        perl iproute2 procps bubblewrap hyperfine busybox-static python3

# The library's API; the other headers are internal.
PUBLIC_H := error.h spec.h result.h sandbox.h spec_json.h parse.h cgroup.h seccomp_policy.h \
            profile.h

.PHONY: all check unit bench deps install clean format lint
# Keep the sanitizer objects the tests link: they are not throwaway intermediates.
.SECONDARY:
all: $(BUILD)/sbx $(BUILD)/libsbxrt.a

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

# Unit tests build with ASan+UBSan; they link the runtime and the CLI's modules.
$(BUILD)/tests/%.t: tests/%.c tests/tap.h $(BUILD)/libsbxrt-san.a $(CLI_LIB_SAN)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests -Icli $(CFLAGS) $(SAN) -O1 $(LDFLAGS) -o $@ $< \
	    $(CLI_LIB_SAN) $(BUILD)/libsbxrt-san.a $(LDLIBS)

# In-process stage breakdown of a sandbox start (run by bench/run.sh).
$(BUILD)/bench/stages: bench/stages.c $(BUILD)/libsbxrt.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsbxrt.a $(LDLIBS)

# Hostile programs for tests/security: static, so they run in any image.
$(BUILD)/tests/security/attack: tests/security/attack.c
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -D_GNU_SOURCE -std=gnu11 -O1 -Wall -Wextra -Werror -static -o $@ $<

unit: $(UNIT_BIN)

check: all $(UNIT_BIN) $(BUILD)/tests/security/attack lint
	prove -f $(UNIT_BIN) tests/integration/*.t tests/security/*.t

bench: all $(BUILD)/bench/stages
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
	install -m 0644 $(BUILD)/libsbxrt.a $(DESTDIR)$(PREFIX)/lib/libsbxrt.a
	install -m 0644 $(addprefix runtime/,$(PUBLIC_H)) $(DESTDIR)$(PREFIX)/include/sbx/
	install -d $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/seccomp
	install -m 0644 profiles/*.json $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/
	install -m 0644 profiles/seccomp/*.json $(DESTDIR)$(PREFIX)/share/sandboxd/profiles/seccomp/

# Bans functions with no bound on what they write.
lint:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets)\s*\(' runtime/*.c cli/*.c tests/*/*.c \
	    || (echo "unsafe function used (see above)"; false)

format:
	clang-format -i runtime/*.[ch] cli/*.[ch] tests/*/*.c tests/*.h

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
