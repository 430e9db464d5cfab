/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvm-split: userspace API added to KVM by the kvm-split patch module.
 *
 * Include next to <linux/kvm.h>.  Every feature has a capability; probe it
 * with KVM_CHECK_EXTENSION on the VM fd before use.  See
 * Documentation/api.rst in the kvm-split tree.
 *
 * Numbering.  These numbers are permanent once published, so they are kept
 * out of every range upstream KVM allocates from:
 *  - Capabilities live at 0x4b530000 ("KS" << 16) and up.  Upstream
 *    allocates KVM_CAP_* sequentially from 0 (about 240 in Linux 6.12) and
 *    will not reach this range.
 *  - Ioctls use their own type byte, KVMSPLITIO (0xAF), numbers 0x80 and up,
 *    rather than KVMIO (0xAE), whose numbers upstream keeps handing out.
 *    0xAF 0x00-0x1F belongs to the Freescale hypervisor driver, which never
 *    sees a KVM fd; the range used here does not overlap it anyway.
 *  - Memslot flags use bits 14 and 15: upstream user flags grow from bit 0
 *    (bits 0-2 in 6.12) and KVM's internal memslot flags from bit 16.
 */
#ifndef _UAPI_LINUX_KVM_SPLIT_H
#define _UAPI_LINUX_KVM_SPLIT_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define KVMSPLITIO 0xAF

/*
 * KVM_CAP_MEMSLOT_PAGE_SIZES: KVM_CHECK_EXTENSION returns the mask of the
 * KVM_MEM_MAX_PAGE_* memslot flags this KVM supports; KVM_ENABLE_CAP with
 * args[0] = the flags to use makes the VM accept them.
 */
#define KVM_CAP_MEMSLOT_PAGE_SIZES	0x4b530001
/* KVM_CAP_SPLIT_HUGE_PAGES: returns the mask of supported page_size values. */
#define KVM_CAP_SPLIT_HUGE_PAGES	0x4b530002
/* KVM_CAP_CLEAR_DIRTY_LOG_CHUNK: KVM_ENABLE_CAP, args[0] = chunk in pages. */
#define KVM_CAP_CLEAR_DIRTY_LOG_CHUNK	0x4b530003

/* Memslot flags (KVM_SET_USER_MEMORY_REGION{,2}): cap the mapping size. */
#define KVM_MEM_MAX_PAGE_2M	(1UL << 14)
#define KVM_MEM_MAX_PAGE_4K	(1UL << 15)

/* KVM_SPLIT_HUGE_PAGES: split huge mappings of a memslot range. */
struct kvm_split_huge_pages {
	__u32 slot;		/* as_id << 16 | slot id */
	__u32 flags;		/* must be 0 */
	__u64 first_page;	/* in: first 4 KiB page in the slot; out: resume point */
	__u64 num_pages;	/* in: pages to cover; out: pages not yet done */
	__u64 page_size;	/* target mapping size: 4096 or 2 MiB */
	__u64 split;		/* out: huge mappings split, added to the input */
	__u64 reserved[3];	/* must be 0 */
};

#define KVM_SPLIT_HUGE_PAGES	_IOWR(KVMSPLITIO, 0x80, struct kvm_split_huge_pages)

#endif /* _UAPI_LINUX_KVM_SPLIT_H */
