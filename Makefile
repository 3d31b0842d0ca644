# vmctl - thin wrapper around Meson. The README's two commands:
#   make check   install missing Debian packages, build, run every test
#   make demo    bring a real VM up, provision it, reach it over SSH, tear it down
BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
PYTEST     ?= $(PYTHON) -m pytest

.PHONY: all deps build check check-unit check-asan check-py demo clean

all: build

deps:
	@tools/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug

check-unit: build
	meson test -C $(BUILD) --print-errorlogs

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs

# pytest suites: the real binary (tests/cli: noop backend; tests/e2e: real
# QEMU, sshd and HTTP servers on 127.0.0.1).
check-py: build
	VMCTL_BIN=$(CURDIR)/$(BUILD)/src/vmctl $(PYTEST) -q tests/cli tests/e2e

check: deps
	$(MAKE) build
	$(MAKE) check-unit
	$(MAKE) check-asan
	$(MAKE) check-py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
