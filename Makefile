# vmctl - thin wrapper around Meson. The README's two commands:
#   make check   install missing Debian packages, build, run every test
#   make demo    bring a real VM up, provision it, reach it over SSH, tear it down
BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
PYTEST     ?= $(PYTHON) -m pytest

.PHONY: all deps build check check-fresh check-unit check-asan check-py check-py-asan demo clean guest \
	fuzz-build fuzz-smoke fuzz bench-kdl bench-image bench-sftp bench-list bench-up \
	bench-vmfile-scale bench-resume bench-up-many deb image check-dist

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

# The CLI suite again, against the ASan+UBSan binary (leaks fail the run).
check-py-asan: check-asan
	VMCTL_BIN=$(CURDIR)/$(ASAN_BUILD)/src/vmctl ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(PYTEST) -q tests/cli

# pytest runs last: its closing line is the summary of the longest suite.
check: deps
	$(MAKE) build
	$(MAKE) check-unit
	$(MAKE) check-asan
	$(MAKE) fuzz-smoke
	$(MAKE) check-py-asan
	$(MAKE) check-py

# `make check` on a pristine Debian 12 chroot, from the committed HEAD (as
# root; CI runs this).
check-fresh:
	tools/check-fresh

# Debian packages vmctl, libvmm0 and libvmm-dev in $(DEB_DIR)/ (installs the
# missing build dependencies of debian/control).
DEB_DIR ?= build-deb
deb:
	tools/build-deb $(DEB_DIR)

# The container image (Containerfile) with podman, else docker.
IMAGE ?= vmctl
image:
	@if command -v podman >/dev/null 2>&1; then engine=podman; \
	elif command -v docker >/dev/null 2>&1; then engine=docker; \
	else echo "make image: neither podman nor docker is installed" \
		"(hint: apt-get install podman)" >&2; exit 1; fi; \
	echo "$$engine build -t $(IMAGE) -f Containerfile ."; \
	$$engine build -t $(IMAGE) -f Containerfile .

# The packages and the image, tested (as root; CI runs this after
# check-fresh): tools/check-dist --help.
check-dist:
	tools/check-dist

# Not part of check: `vmctl list` with 1,000 VMs against /bin/true.
bench-list: build
	bench/list.sh $(BUILD)

# Not part of check: `vmctl validate` of 100,000 VMs (and properties) against
# 10,000: the ratio shows whether the work grows linearly.
bench-vmfile-scale: build
	bench/vmfile-scale.sh $(BUILD)

# Not part of check: time to SSH of `vmctl up` against bare QEMU.
bench-up: build
	bench/up.sh $(BUILD)

# Not part of check: `vmctl up` of three VMs at once against `-j 1`.
bench-up-many: build
	bench/up-many.sh $(BUILD)

# Not part of check: time to SSH of `vmctl start` of a saved VM against a
# cold start of the same VM.
bench-resume: build
	bench/resume.sh $(BUILD)

# Not part of check: vmctl's SFTP upload against OpenSSH scp (256 MiB).
bench-sftp: build
	bench/sftp.sh $(BUILD)

# libFuzzer targets (tests/fuzz), clang + ASan/UBSan, in their own build dir.
# fuzz-smoke (part of check): each target FUZZ_SMOKE_SECS from its seed
# corpus; fuzz: each target until it has run FUZZ_RUNS inputs (at most
# FUZZ_SECS; the long run).
FUZZ_BUILD      ?= build-fuzz
FUZZ_SMOKE_SECS ?= 30
FUZZ_SECS       ?= 7200
FUZZ_RUNS       ?= 10000000

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link

fuzz-build: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

fuzz-smoke: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECS) $(FUZZ_RUNS)

# Not part of check: KDL parse throughput (MB/s) and peak memory / input size.
bench-kdl: build
	bench/kdl.sh $(BUILD)

# Not part of check: image download + zstd decompression (1 GiB) against
# curl | zstd -d, and vmctl's peak RSS.
bench-image: build
	bench/image.sh $(BUILD)

# the small test guest image (cached; prints its path)
guest:
	tests/guest/build.sh

# A real VM: up (create, boot, provision), ssh, down --destroy.
demo: deps
	$(MAKE) build
	tools/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
