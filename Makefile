# Build, run and test the kernel. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TARGET   := aarch64-unknown-none
PROFILE  ?= release
CARGO    ?= cargo
BUILD    := build
ELF      := target/$(TARGET)/$(PROFILE)/kernel
IMAGE    := $(BUILD)/kernel.img
KELF     := $(BUILD)/kernel.elf
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
# Module crates only build for the target (their kabi has the module runtime,
# whose panic handler must not meet std's on the host).
DRIVER_CRATES := $(patsubst drivers/%/Cargo.toml,%,$(wildcard drivers/*/Cargo.toml))
HOST_EXCLUDES := --exclude kernel $(foreach d,$(DRIVER_CRATES),--exclude $(d))

# Machine selection for run/debug (see qemu/run.sh); the modules' initrd is
# attached unless INITRD= is given empty.
INITRD ?= $(BUILD)/initrd.cpio
DISK ?= $(BUILD)/disk.img
export CPU MEM SMP GIC EL QEMU_EXTRA APPEND INITRD DISK

# Module signing key: private key and certificate in one PEM, like Linux's
# certs/signing_key.pem. A development key is made on first build unless
# SIGN_KEY names another; SIGN_KEY= (empty) leaves modules unsigned.
DEFAULT_SIGN_KEY := $(BUILD)/signing_key.pem
SIGN_KEY ?= $(DEFAULT_SIGN_KEY)
export SIGN_KEY
# Certificates built into the kernel: SIGN_KEY's own, then every PEM named in
# TRUSTED_CERTS. MODULE_SIG_FORCE=1 makes signature enforcement permanent
# (Linux's CONFIG_MODULE_SIG_FORCE); otherwise `module.sig_enforce=1` or the
# shell's `sig_enforce on` turn it on at boot or run time.
TRUSTED_CERTS ?=
MODULE_SIG_FORCE ?=
CERTS := $(BUILD)/trusted_certs.der
# What is built into the kernel, like Linux's Kconfig: sig-ecdsa when a
# trusted certificate is EC (certs.sh writes $(CERTS).features), selftest
# with SELFTEST=1 (the shell's self-tests and benchmarks; `make test` and
# `make bench` set it).
SELFTEST ?=
KERNEL_FEATURES = $$(cat $(CERTS).features) $(if $(filter 1,$(SELFTEST)),selftest)
# Extra keys the tests and the bench sign with (RSA-4096, P-256, P-384); the
# kernel trusts them only when built by `make test`, `make test-qemu` or
# `make bench`.
TEST_KEYS := $(BUILD)/test-keys/rsa4096.pem $(BUILD)/test-keys/p256.pem $(BUILD)/test-keys/p384.pem

.PHONY: help deps kernel kernel-default tools run debug test test-host test-qemu lint bench bench-linux fuzz clean

help: ## this list
	@echo "Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 18
	@echo
	@echo "Machine options for run/debug: CPU=cortex-a72 MEM=256M SMP=1 GIC=2|3 EL=1|2 APPEND='...' INITRD=file DISK=file QEMU_EXTRA='...'"
	@echo "Module signing: SIGN_KEY=key.pem (private key + certificate; default build/signing_key.pem, made on first build)"
	@echo "                TRUSTED_CERTS='a.pem b.pem' (more certificates built in), MODULE_SIG_FORCE=1 (always enforce)"
	@echo "Built in: SELFTEST=1 (the shell's self-tests and benchmarks: modstress, sigbench, refbench, ...; make test/bench set it);"
	@echo "          ECDSA signature checks when a trusted certificate is EC"

deps: ## install what is missing (rustup target, Debian packages)
	@./qemu/install-deps.sh

$(DEFAULT_SIGN_KEY):
	./kernel/modsign/genkey.sh $@
$(BUILD)/test-keys/rsa4096.pem:
	./kernel/modsign/genkey.sh $@ rsa:4096
$(BUILD)/test-keys/p256.pem:
	./kernel/modsign/genkey.sh $@ p256
$(BUILD)/test-keys/p384.pem:
	./kernel/modsign/genkey.sh $@ p384

kernel: deps | $(SIGN_KEY) $(TRUSTED_CERTS) ## build the kernel Image (build/kernel.img) and ELF with symbols (build/kernel.elf)
	@# Test keys named through a target-specific TRUSTED_CERTS (make test)
	@# are not prerequisites (those are expanded first): make them here.
	@for k in $(filter $(BUILD)/test-keys/%,$(TRUSTED_CERTS)); do $(MAKE) -s --no-print-directory $$k; done
	./kernel/modsign/certs.sh $(CERTS) $(SIGN_KEY) $(TRUSTED_CERTS)
	KERNEL_TRUSTED_CERTS=$(abspath $(CERTS)) KERNEL_MODULE_SIG_FORCE=$(MODULE_SIG_FORCE) \
		$(CARGO) build -p kernel --target $(TARGET) $(CARGO_PROFILE_FLAG) --features "$(KERNEL_FEATURES)"
	@mkdir -p $(dir $(KELF))
	cp $(ELF) $(KELF)
	llvm-objcopy -O binary $(KELF) $(IMAGE)
	$(CARGO) run -q -p kallsyms -- $(KELF) $(IMAGE)
	@echo "kernel: $(IMAGE) $$(stat -c %s $(IMAGE)) bytes"

# The image `make run` boots (SIGN_KEY's certificate only, no self-tests),
# built beside the test kernel for the test that boots it and the bench's size.
DEFAULT_DIR := $(BUILD)/default
kernel-default: deps | $(SIGN_KEY) ## the default-configuration kernel (what `make kernel` builds with no options) in build/default/, for the tests and the bench
	@$(MAKE) -s --no-print-directory kernel SELFTEST= TRUSTED_CERTS= MODULE_SIG_FORCE= \
		IMAGE=$(DEFAULT_DIR)/kernel.img KELF=$(DEFAULT_DIR)/kernel.elf CERTS=$(DEFAULT_DIR)/trusted_certs.der

tools: ## host tools for module authors in build/bin: modtool (info, link, prelink, versions, short-names, genksyms, symvers, modpost, sign) and depmod
	$(CARGO) build --release -p modtool -p depmod
	@mkdir -p $(BUILD)/bin
	cp target/release/modtool target/release/depmod $(BUILD)/bin/
	@echo "tools: $(BUILD)/bin/modtool $(BUILD)/bin/depmod (or: cargo install --path kernel/modtool)"

run: kernel initrd disk ## build and boot in QEMU with the serial console here (Ctrl-A X quits QEMU)
	./qemu/run.sh

debug: kernel initrd disk ## boot with QEMU halted (-s -S) and attach gdb-multiarch with the kernel's symbols
	@./qemu/run.sh -s -S & qemu_pid=$$!; \
	trap 'kill $$qemu_pid 2>/dev/null' EXIT; \
	gdb-multiarch -q $(KELF) -ex 'set architecture aarch64' -ex 'target remote :1234'

lint: deps ## cargo fmt --check and clippy (host and target) with warnings denied; RustCrypto's DER crates stay out of the kernel
	$(CARGO) fmt --all -- --check
	@if $(CARGO) tree -q -p kernel --target $(TARGET) -e normal --prefix none | grep -E '^(der|cms|x509-cert|spki|const-oid) v'; then \
	  echo "lint: the kernel links RustCrypto's DER crates (modsign's feature x509 is host only)"; exit 1; fi
	$(CARGO) clippy --workspace $(HOST_EXCLUDES) --all-targets -- -D warnings
	$(CARGO) clippy -p kernel -p kcore -p modloader -p modsign --target $(TARGET) $(CARGO_PROFILE_FLAG) -- -D warnings
	$(CARGO) clippy -p kernel --target $(TARGET) $(CARGO_PROFILE_FLAG) --features sig-ecdsa,selftest -- -D warnings
	$(CARGO) clippy $(foreach d,$(DRIVER_CRATES),-p $(d)) --target $(TARGET) $(CARGO_PROFILE_FLAG) -- -D warnings

test-host: deps ## host unit tests (kcore, loader, modsign, modtool, kallsyms, kabi, depmod, the bench's parsers)
	$(CARGO) test --workspace $(HOST_EXCLUDES) --exclude qemu-tests
	$(CARGO) test -p qemu-tests --lib
	@# modsign as the default kernel has it: no ECDSA (see kernel/Cargo.toml).
	$(CARGO) test -p modsign --no-default-features --features x509 --lib

test-qemu bench bench-linux: TRUSTED_CERTS += $(TEST_KEYS)
test-qemu bench bench-linux: SELFTEST = 1
# The QEMU suites run three times: on the machine each test asks for (1 CPU,
# GICv2 unless it says otherwise), then with 4 CPUs on GICv2 and on GICv3
# (smp.rs chooses its machines itself and runs once).
QEMU_SUITES := ckit console disk matrix modules oops shell signing virtio
test-qemu: kernel kernel-default initrd initrd-all ## QEMU tests (1 CPU, then 4 CPUs on GICv2 and GICv3): boot, shell, oops, matrix, modules, drivers, disk, SMP, signing
	$(CARGO) test -p qemu-tests -- --test-threads=2
	QEMU_TEST_SMP=4 QEMU_TEST_GIC=2 $(CARGO) test -p qemu-tests $(foreach t,$(QEMU_SUITES),--test $(t)) -- --test-threads=2
	QEMU_TEST_SMP=4 QEMU_TEST_GIC=3 $(CARGO) test -p qemu-tests $(foreach t,$(QEMU_SUITES),--test $(t)) -- --test-threads=2

test: lint test-host test-qemu ## everything CI runs: lint, host tests, QEMU tests
	@echo "make test: all passed"

bench: kernel kernel-default initrd initrd-all disk ## print figures: boot vs QEMU floor, image size, memory, serial input, modules, module signatures, drivers, loader, Linux side by side, SMP
	./tests/bench.sh

bench-linux: kernel kernel-default initrd-all disk ## insmod/rmmod and boot beside Debian's arm64 Linux 6.1 in the same QEMU (fetches it into build/linux-bench)
	$(CARGO) run -q --release -p qemu-tests --bin bench -- --linux

fuzz: ## fuzz the module load path and the signature check with cargo fuzz (nightly); FUZZ_SECONDS=600 each
	./kernel/loader/fuzz.sh $(or $(FUZZ_SECONDS),600)
	./kernel/modsign/fuzz.sh $(or $(FUZZ_SECONDS),600)

clean: ## remove build outputs
	$(CARGO) clean
	rm -rf $(BUILD)

.PHONY: modules initrd initrd-all disk

# Boot modules go in the initrd (the console and what it takes to reach the
# disk: its transport, its driver and its file system); every module goes on
# the disk.
BOOT_MODULES := pl011 virtio_mmio virtio_blk vfat
DISK_MIB ?= 32

modules: deps | $(SIGN_KEY) ## build every module (build/modules/*.ko), prelinked with the applied relocations removed (PRELINK=rela: RELA tables kept whole; PRELINK=0: not prelinked), signed with SIGN_KEY, and the depmod index
	./drivers/build-modules.sh

# pack DIR OUT: a cpio newc archive of DIR's modules and indexes.
define pack
	set -o pipefail; cd $(1) && printf '%s\n' *.ko modules.dep modules.alias \
		| cpio -o -H newc --quiet --reproducible > $(abspath $(2)).tmp
	mv $(2).tmp $(2)
	@echo "initrd: $(2) $$(stat -c %s $(2)) bytes"
endef

initrd: modules ## initrd with the boot modules (build/initrd.cpio): pl011, virtio_mmio, virtio_blk, vfat
	rm -rf $(BUILD)/boot-modules && mkdir -p $(BUILD)/boot-modules
	cp $(foreach m,$(BOOT_MODULES),$(BUILD)/modules/$(m).ko) $(BUILD)/boot-modules/
	$(CARGO) run -q -p depmod -- $(BUILD)/boot-modules
	$(call pack,$(BUILD)/boot-modules,$(BUILD)/initrd.cpio)

initrd-all: modules ## initrd with every module (build/initrd-all.cpio), for the tests
	$(call pack,$(BUILD)/modules,$(BUILD)/initrd-all.cpio)

disk: modules ## FAT disk image with every module and the index (build/disk.img, DISK_MIB MiB)
	./qemu/mkdisk.sh $(BUILD)/disk.img $(DISK_MIB) $(BUILD)/modules/*.ko $(BUILD)/modules/modules.dep $(BUILD)/modules/modules.alias
	@echo "disk: $(BUILD)/disk.img ($(DISK_MIB) MiB)"
