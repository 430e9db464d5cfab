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
 * Whether a memslot of @kvm, in any address space, has one of the
 * KVM_MEM_MAX_PAGE_* flags in @flags.
 *
 * Locking: kvm->slots_lock held, which every memslot update holds, so the
 * memslots cannot change during the scan.
 */
static bool kvm_split_memslot_flags_in_use(struct kvm *kvm, u32 flags)
{
	struct kvm_memory_slot *slot;
	int as_id, bkt;

	lockdep_assert_held(&kvm->slots_lock);

	for (as_id = 0; as_id < kvm_arch_nr_memslot_as_ids(kvm); as_id++)
		kvm_for_each_memslot(slot, bkt, __kvm_memslots(kvm, as_id))
			if (slot->flags & flags)
				return true;
	return false;
}

/*
 * KVM_ENABLE_CAP(KVM_CAP_MEMSLOT_PAGE_SIZES): args[0] is the set of flags
 * the VMM will use, a subset of what KVM_CHECK_EXTENSION returned.  The
 * flags are opt-in so that a VMM (or test) that does not know kvm-split
 * sees exactly upstream's memslot uAPI, unknown flags rejected.
 *
 * The set may be widened at any time.  It may be narrowed only while no
 * memslot has a flag it drops (-EBUSY otherwise, nothing changed): such a
 * slot could keep the flag but no longer be updated, since every later
 * update (a flags-only one too, such as enabling dirty logging for a
 * migration) passes the slot's flags, which check_memory_region_flags()
 * would then reject.  The VMM drops the flag from its slots first.
 *
 * Locking: takes kvm->slots_lock, which memslot updates hold while they
 * check the flags, so no slot can take a dropped flag between the scan
 * and the update of the set.
 */
int kvm_split_enable_memslot_page_sizes(struct kvm *kvm,
					struct kvm_enable_cap *cap)
{
	u32 dropped;
	int r = 0;

	if (cap->flags || cap->args[1] || cap->args[2] || cap->args[3] ||
	    (cap->args[0] & ~(u64)kvm_arch_memslot_page_sizes(kvm)))
		return -EINVAL;

	mutex_lock(&kvm->slots_lock);
	dropped = kvm->split_memslot_flags & ~(u32)cap->args[0];
	if (dropped && kvm_split_memslot_flags_in_use(kvm, dropped))
		r = -EBUSY;
	else
		kvm->split_memslot_flags = cap->args[0];
	mutex_unlock(&kvm->slots_lock);
	return r;
}

/*
 * Hook in check_memory_region_flags() (kvm->slots_lock held): the memslot
 * flags kvm-split adds to the valid set, those the VMM enabled.  Both caps
 * at once are contradictory: none is added then, so the caller rejects the
 * flags with -EINVAL.
 */
u32 kvm_split_memslot_valid_flags(struct kvm *kvm, u32 flags)
{
	if ((flags & KVM_MEM_MAX_PAGE_MASK) == KVM_MEM_MAX_PAGE_MASK)
		return 0;
	return kvm->split_memslot_flags;
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
