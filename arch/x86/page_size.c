// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: per-memslot allowed page sizes on x86.
 *
 * Faults honour the cap through __kvm_mmu_max_mapping_level() (hook:
 * kvm_split_slot_max_level()), which every path that picks a mapping size
 * goes through: TDP MMU and shadow MMU (nested) faults, KVM_PRE_FAULT_MEMORY,
 * and the collapsible-SPTE zap after dirty logging is disabled.  The NX huge
 * page recovery worker only zaps; the re-fault is capped.
 *
 * This file applies a cap change to a live slot.
 */
#include <linux/kvm_host.h>
#include <linux/sizes.h>

#include "mmu.h"

#include <kvm-split/kvm_split.h>
#include <kvm-split/x86_mmu.h>

u32 kvm_arch_memslot_page_sizes(struct kvm *kvm)
{
	return KVM_MEM_MAX_PAGE_MASK;
}

/*
 * Bring the slot's existing mappings under a lowered cap: split them in
 * place (TDP MMU, mmu_lock held for read), so vCPUs keep their memory
 * mapped.  If a page table cannot be allocated, or without the TDP MMU,
 * zap the slot instead: the cap holds when the ioctl returns, either way.
 *
 * Locking: kvm->slots_lock held (memslot update), no mmu_lock.
 */
static void kvm_split_lower_cap(struct kvm *kvm,
				const struct kvm_memory_slot *slot, int level)
{
	gfn_t start = slot->base_gfn, end = slot->base_gfn + slot->npages;
	struct kvm_split_count count = {};
	int r = -EOPNOTSUPP;

	if (tdp_mmu_enabled) {
		r = kvm_arch_split_huge_pages(kvm, slot, start, end,
					      level == PG_LEVEL_4K ? SZ_4K : SZ_2M,
					      &count);
		kvm_split_account(kvm, &count);
	}
	if (r)
		kvm_zap_gfn_range(kvm, start, end);
}

/*
 * Hook at the top of kvm_mmu_slot_apply_flags(), after the new memslot is
 * visible to vCPUs (so no new fault maps above the new cap).  Only a
 * flags-only change has mappings to fix: a new slot has none and a moved
 * one was zapped.
 *
 * Locking: kvm->slots_lock held, no mmu_lock.
 */
void kvm_split_apply_page_size(struct kvm *kvm,
			       const struct kvm_memory_slot *old,
			       const struct kvm_memory_slot *new,
			       enum kvm_mr_change change)
{
	int old_level, new_level;

	if (change != KVM_MR_FLAGS_ONLY)
		return;

	old_level = kvm_split_slot_max_level(old);
	new_level = kvm_split_slot_max_level(new);
	if (new_level < old_level) {
		kvm_split_lower_cap(kvm, new, new_level);
	} else if (new_level > old_level &&
		   !((old->flags | new->flags) & KVM_MEM_LOG_DIRTY_PAGES)) {
		/*
		 * Raised cap: zap what could now be mapped larger so that
		 * faults rebuild huge mappings (6.12 has no in-place
		 * recovery).  While dirty logging is on mappings stay small
		 * anyway, and disabling it zaps collapsible SPTEs itself.
		 */
		kvm_mmu_zap_collapsible_sptes(kvm, new);
	}
}
