// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: per-memslot allowed page sizes, the arch-neutral part.
 *
 * KVM_MEM_MAX_PAGE_2M / KVM_MEM_MAX_PAGE_4K cap the size of the mappings
 * KVM creates for a memslot.  This file checks the flags; the arch honours
 * them in its fault path and applies a change to a live slot
 * (arch/x86/page_size.c).
 */
#include <linux/kvm_host.h>

#include <kvm-split/kvm_split.h>

/*
 * Hook in check_memory_region_flags(): the memslot flags kvm-split adds to
 * the valid set.  Both caps at once are contradictory: none is added then,
 * so the caller rejects the flags with -EINVAL.
 */
u32 kvm_split_memslot_valid_flags(struct kvm *kvm, u32 flags)
{
	if ((flags & KVM_MEM_MAX_PAGE_MASK) == KVM_MEM_MAX_PAGE_MASK)
		return 0;
	return kvm_arch_memslot_page_sizes(kvm);
}

/*
 * Hook in kvm_set_memory_region(): the cap may change on a live slot only
 * in a flags-only update, not together with a move, so that one ioctl
 * never has to both rebuild and re-cap a slot's mappings.
 */
bool kvm_split_memslot_change_ok(u32 old_flags, u32 new_flags,
				 enum kvm_mr_change change)
{
	return change != KVM_MR_MOVE ||
	       !((old_flags ^ new_flags) & KVM_MEM_MAX_PAGE_MASK);
}
