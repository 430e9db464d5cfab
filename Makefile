# SPDX-License-Identifier: GPL-2.0
#
# kvm-split: rebuild the host kernel's KVM with kvm-split's hooks.
#
#   make                 set up (if needed), assemble and build kvm.ko,
#                        kvm-amd.ko, kvm-intel.ko for the target kernel
#   make demo            build, boot a test VM and show kvm-split at work
#   make check           same as "make -C selftests run"
#   make install         install into /lib/modules/$KVER/updates (real host)
#   make load / unload   swap the distro KVM for ours and back (real host,
#                        no VMs)
#   make uninstall       remove what make install installed
#   make checkpatch      run the kernel's checkpatch.pl on our sources
#   make check-kernels   build for every Debian kernel (release, point
#                        release, flavour) apt has that kvm-split supports
#   make deb             build/deb/kvm-split-dkms_<version>_all.deb: the
#                        DKMS package (Documentation/dkms.rst)
#   make host-image      the Debian 13 host image of the test VM
#                        (scripts/host-image.sh)
#   make qemu            Debian 13's QEMU with contrib/qemu's series
#                        (qemu-system-x86_64 in build/qemu/bin/)
#
# Target kernel: the running one on a Debian host running a supported Debian
# kernel, else the newest Debian 13 6.12 (amd64); KVER=<abi or release>
# (6.12.118+deb13, 6.12.118+deb13-cloud-amd64, 6.12.117+deb12), KFLAVOUR=,
# KDIR=<headers dir>, KSRC=<kernel tree> override it (see README.md).
# Debian 13 kernels build in a trixie root on other machines
# (scripts/debian-root.sh; KROOT=host builds with the machine's tools).

top := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export BUILD ?= $(top)/build
JOBS ?= $(shell nproc)

# Resolving the kernel asks apt; do it once per make invocation.  A clean
# clone has no build directory yet.  Before make 4.4, $(shell) does not see
# variables given on the command line (make KVER=...): pass them on.
$(shell mkdir -p $(BUILD))
KINFO := $(shell top=$(top) BUILD='$(BUILD)' KVER='$(KVER)' KDIR='$(KDIR)' \
	KSRC='$(KSRC)' KFLAVOUR='$(KFLAVOUR)' KROOT='$(KROOT)' \
	bash -c '. $(top)/scripts/lib.sh; resolve_kernel >&2 && echo "$$KVER $$KDIR $$KROOT"' 2>$(BUILD)/.kinfo.err || echo ERROR)
ifeq ($(firstword $(KINFO)),ERROR)
$(error $(shell cat $(BUILD)/.kinfo.err 2>/dev/null))
endif
KVER_R := $(word 1,$(KINFO))
KDIR_R := $(word 2,$(KINFO))
# The kernel's own release's toolchain: a Debian build root, or this machine.
KRUN := $(if $(word 3,$(KINFO)),$(top)/scripts/debian-root.sh run $(word 3,$(KINFO)) --)
ASM := $(BUILD)/$(KVER_R)/kvm
KBUILD_ARGS := -C $(KDIR_R) M=$(ASM)/arch/x86/kvm \
	NOSTDINC_FLAGS="-I$(ASM)/include/override" -j$(JOBS)

.PHONY: all modules setup assemble demo check install uninstall load unload clean \
	checkpatch sparse check-kernels deb host-image qemu

all: modules

setup:
	@$(top)/scripts/setup.sh

assemble: setup
	@$(top)/scripts/assemble.sh

modules: assemble
	$(KRUN) $(if $(KRUN),make,$(MAKE)) $(KBUILD_ARGS) modules
	@$(top)/scripts/check-vermagic.sh $(ASM)/arch/x86/kvm

sparse: assemble
	$(if $(KRUN),$(top)/scripts/debian-root.sh create $(word 3,$(KINFO)) sparse)
	$(KRUN) $(if $(KRUN),make,$(MAKE)) $(KBUILD_ARGS) C=2 CHECK="sparse -Wno-decl" modules

checkpatch: assemble
	@$(top)/scripts/checkpatch.sh

demo: modules
	$(MAKE) -C $(top)/selftests demo

check: modules
	$(MAKE) -C $(top)/selftests run

qemu:
	$(MAKE) -C $(top)/contrib/qemu

check-kernels:
	@$(top)/scripts/check-kernels.sh $(if $(PRUNE),--prune) $(if $(NEWEST),--newest)

install: modules
	$(top)/scripts/host-modules.sh install $(ASM)/arch/x86/kvm

load:
	$(top)/scripts/host-modules.sh load $(ASM)/arch/x86/kvm

unload:
	$(top)/scripts/host-modules.sh unload

uninstall:
	$(top)/scripts/host-modules.sh uninstall $(KVER_R)

# Needs no kernel: the package builds for whichever kernel it is
# installed on.
deb:
	@$(top)/scripts/make-deb.sh

host-image:
	@$(top)/scripts/host-image.sh build

clean:
	-$(KRUN) $(if $(KRUN),make,$(MAKE)) $(KBUILD_ARGS) clean
	$(MAKE) -C $(top)/selftests clean
