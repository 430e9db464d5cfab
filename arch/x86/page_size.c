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
 * The shadow MMU (nested NPT/EPT) splits best effort: on -ENOMEM it leaves
 * a huge mapping in place.  Find any shadow mapping left above @level in
 * the slot's rmaps and zap its range, so that the cap holds for nested
 * guests too.  Faults cannot add such mappings meanwhile: the memslot with
 * the new cap was installed, and SRCU readers of the old one drained,
 * before kvm_mmu_slot_apply_flags() called us, so the set only shrinks and
 * reading the rmap heads without mmu_lock misses nothing.
 *
 * Not exercised at runtime here: the selftests library of 6.12 cannot run
 * an L2 guest on nested NPT, the only user of the shadow MMU under TDP.
 *
 * Locking: kvm->slots_lock held, no mmu_lock (kvm_zap_gfn_range() takes
 * it).
 */
static void kvm_split_zap_shadow_huge(struct kvm *kvm,
				      const struct kvm_memory_slot *slot,
				      int level)
{
	gfn_t last = slot->base_gfn + slot->npages - 1;
	int l;

	if (!kvm_memslots_have_rmaps(kvm))
		return;

	for (l = level + 1; l <= KVM_MAX_HUGEPAGE_LEVEL; l++) {
		struct kvm_rmap_head *rmap = slot->arch.rmap[l - PG_LEVEL_4K];
		gfn_t base = slot->base_gfn >> KVM_HPAGE_GFN_SHIFT(l);
		gfn_t i, n = gfn_to_index(last, slot->base_gfn, l) + 1;

		if (!rmap)
			continue;
		for (i = 0; i < n; i++) {
			gfn_t gfn = (base + i) << KVM_HPAGE_GFN_SHIFT(l);

			if (!READ_ONCE(rmap[i].val))
				continue;
			kvm_zap_gfn_range(kvm, gfn,
					  gfn + KVM_PAGES_PER_HPAGE(l));
			cond_resched();
		}
	}
}

/*
 * Bring the slot's existing mappings under a lowered cap: split them in
 * place (TDP MMU, mmu_lock held for read), so vCPUs keep their memory
 * mapped.  If a page table cannot be allocated, or without the TDP MMU,
 * zap the slot instead; nested (shadow MMU) mappings the split left huge
 * are zapped too: the cap holds when the ioctl returns, either way.
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
		r = kvm_split_walk(kvm, slot, start, end,
				   level == PG_LEVEL_4K ? SZ_4K : SZ_2M,
				   KVM_SPLIT_BY_MEMSLOT_CAP, &count);
	}
	if (r)
		kvm_zap_gfn_range(kvm, start, end);
	else
		kvm_split_zap_shadow_huge(kvm, slot, level);
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
