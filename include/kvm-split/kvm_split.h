/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm-split: in-kernel interface between upstream KVM, kvm-split's
 * arch-neutral code (mmu/, dirty_log/) and its per-arch code (arch/).
 *
 * Upstream files call the kvm_split_*() hooks below, from the small patches
 * in arch/x86/patches/<series>/; everything else lives in our own files.
 */
#ifndef __KVM_SPLIT_H
#define __KVM_SPLIT_H

#include <linux/kvm_host.h>
#include <linux/kvm_split.h>

#include <kvm-split/compat.h>

/*
 * KVM_SPLIT_HUGE_PAGES works through its range in steps of this many 4 KiB
 * pages, aligned on the guest physical address.  Between steps it drops
 * every lock, reschedules and checks for signals (a signal stops it before
 * a step, never inside one), and it reports progress in whole steps: a
 * call stopped by -ENOMEM is resumed at the step it was in, whose already
 * split mappings are then simply skipped.
 */
#define KVM_SPLIT_STEP_PAGES	BIT_ULL(14)	/* 64 MiB */

/* Huge mappings split by one walk, by the size they had. */
struct kvm_split_count {
	u64 split_2m;
	u64 split_1g;
};

/* Who asked for a split walk (the kvm_split_huge_pages tracepoint). */
enum kvm_split_origin {
	KVM_SPLIT_BY_IOCTL,		/* a step of KVM_SPLIT_HUGE_PAGES */
	KVM_SPLIT_BY_MEMSLOT_CAP,	/* KVM_MEM_MAX_PAGE_* lowered */
	KVM_SPLIT_BY_CLEAR_DIRTY_LOG,	/* a chunk of KVM_CLEAR_DIRTY_LOG */
};

#define KVM_MEM_MAX_PAGE_MASK	(KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K)

/* Hooks called from upstream virt/kvm/kvm_main.c (uAPI: virt/uapi.c). */
bool kvm_split_is_cap(long cap);
int kvm_split_check_extension(struct kvm *kvm, long cap);
int kvm_split_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap);
long kvm_split_vm_ioctl(struct kvm *kvm, unsigned int ioctl, unsigned long arg);
u32 kvm_split_memslot_valid_flags(struct kvm *kvm, u32 flags);
int kvm_split_enable_memslot_page_sizes(struct kvm *kvm,
					struct kvm_enable_cap *cap);
bool kvm_split_memslot_change_ok(u32 old_flags, u32 new_flags,
				 enum kvm_mr_change change);

/* Hooks for KVM_CLEAR_DIRTY_LOG and its capability (dirty_log/). */
u64 kvm_split_clear_chunk(struct kvm *kvm);
int kvm_split_enable_clear_chunk(struct kvm *kvm, struct kvm_enable_cap *cap);
bool kvm_split_clear_dirty_log_chunked(struct kvm *kvm,
				       struct kvm_memory_slot *slot,
				       u64 first_page, u64 num_pages,
				       unsigned long *buf, u64 chunk);

/* Shared by kvm-split's own files. */

/* KVM_SPLIT_HUGE_PAGES (mmu/split.c), routed by virt/uapi.c. */
int kvm_split_ioctl_split_huge_pages(struct kvm *kvm,
				     struct kvm_split_huge_pages __user *argp);

/*
 * Split with kvm_arch_split_huge_pages() (same arguments, same locking),
 * add what was split to the VM's statistics and to @count, and fire the
 * kvm_split_huge_pages tracepoint.  Every split walk goes through here.
 */
int kvm_split_walk(struct kvm *kvm, const struct kvm_memory_slot *slot,
		   gfn_t start, gfn_t end, u64 page_size,
		   enum kvm_split_origin origin, struct kvm_split_count *count);

/*
 * One step of KVM_SPLIT_HUGE_PAGES (mmu/split.c, which defines struct
 * kvm_split_slot_id).  Global and out of line only so that tests can probe
 * its entry; nothing else calls it.
 */
struct kvm_split_slot_id;
int kvm_split_huge_pages_step(struct kvm *kvm,
			      const struct kvm_split_huge_pages *args,
			      const struct kvm_split_slot_id *id,
			      u64 *done, struct kvm_split_count *count);

/* Implemented by the architecture (arch/<arch>/). */

/* Mask of the KVM_MEM_MAX_PAGE_* flags the arch honours; @kvm may be NULL. */
u32 kvm_arch_memslot_page_sizes(struct kvm *kvm);

/* Mask of the target page sizes KVM_SPLIT_HUGE_PAGES supports. */
u64 kvm_arch_split_page_sizes(struct kvm *kvm);

/*
 * Split every huge mapping of @slot that intersects [@start, @end) (gfns)
 * and is larger than @page_size, including nested (shadow MMU) mappings.
 * Mappings that straddle the range are split whole.  Adds what it split to
 * @count.  Returns 0 or -ENOMEM (what was split before stays split).
 *
 * Locking: the caller holds kvm->slots_lock (the slot cannot change) and no
 * mmu_lock; the walk takes mmu_lock itself, for read where it can.
 */
int kvm_arch_split_huge_pages(struct kvm *kvm,
			      const struct kvm_memory_slot *slot,
			      gfn_t start, gfn_t end, u64 page_size,
			      struct kvm_split_count *count);

/*
 * Whether the arch would split huge pages under the write lock while
 * clearing dirty bits (x86: manual-protect with initially-set and
 * eager_page_split), so that a chunked KVM_CLEAR_DIRTY_LOG should split
 * them ahead with kvm_arch_clear_dirty_log_presplit().  Asked once per
 * call.  Locking: none needed.
 */
bool kvm_arch_clear_dirty_log_presplit_ok(struct kvm *kvm);

/*
 * Before a chunk of KVM_CLEAR_DIRTY_LOG is cleared, split the huge pages
 * over slot pages [@start, @end) (offsets in @slot), a run of dirty pages
 * the chunk is about to clear; only if kvm_arch_clear_dirty_log_presplit_ok().
 * Locking: kvm->slots_lock held, no mmu_lock.
 */
void kvm_arch_clear_dirty_log_presplit(struct kvm *kvm,
				       const struct kvm_memory_slot *slot,
				       gfn_t start, gfn_t end);

/*
 * Re-arm dirty logging for the pages of @nr words of dirty bits @masks,
 * from @gfn_offset of @slot, with atomic SPTE updates under mmu_lock held
 * for read, where the arch can do that for every mapping of the VM:
 * kvm_arch_clear_dirty_log_shared_ok() says so, and must be asked under
 * the same read hold.  The caller has cleared the bits first, then
 * drained every mmu_lock reader of that moment (an empty write hold), so
 * that each fault that set one of those bits has installed its SPTE; and
 * it flushes TLBs before KVM_CLEAR_DIRTY_LOG returns, as upstream.
 */
bool kvm_arch_clear_dirty_log_shared_ok(struct kvm *kvm);
void kvm_arch_clear_dirty_log_shared(struct kvm *kvm,
				     const struct kvm_memory_slot *slot,
				     gfn_t gfn_offset,
				     const unsigned long *masks,
				     unsigned long nr);

#endif /* __KVM_SPLIT_H */
