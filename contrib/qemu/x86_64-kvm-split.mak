# SPDX-License-Identifier: GPL-2.0
# Devices of contrib/qemu's build: the i440FX "pc" machine and what it
# selects itself (ISA serial, fw_cfg for -kernel, ...), all the tests and
# the migration runs use.  build.sh copies it into the tree as
# configs/devices/x86_64-softmmu/kvm-split.mak for configure's
# --without-default-devices --with-devices-x86_64=kvm-split.
CONFIG_I440FX=y
