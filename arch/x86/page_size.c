// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: per-memslot allowed page sizes on x86.
 *
 * Faults honour the cap through __kvm_mmu_max_mapping_level() (7.x:
 * kvm_mmu_max_mapping_level(); hook: kvm_split_slot_max_level()), which
 * every path that picks a mapping size goes through: TDP MMU and shadow MMU
 * (nested) faults, KVM_PRE_FAULT_MEMORY, guest_memfd faults (7.x computes
 * their level in the same function, from the fault's max_level that
 * guest_memfd set, after the cap), the collapsible-SPTE zap after dirty
 * logging is disabled and 7.x's in-place huge page recovery.  The NX huge
 * page recovery worker only zaps; the re-fault is capped.
 *
 * This file applies a cap change to a live slot.
 */
#include <linux/kvm_host.h>
#include <linux/sizes.h>

#include "mmu.h"
#include "mmu/mmu_internal.h"
#include "mmu/spte.h"
#include "mmu/tdp_iter.h"
#include "mmu/tdp_mmu.h"

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
 * reading the rmap heads without mmu_lock misses nothing.  7.x (6.15) walks
 * rmaps without mmu_lock to age them, locking a non-empty head with a bit
 * in it; that changes no entry, and an empty head is never locked, so an
 * empty head still reads as zero.
 *
 * Exercised by selftests/split_huge_pages_npt_test.c, whose L2 runs on
 * nested NPT (the shadow MMU's only user under TDP): with the VM's shadow
 * page budget (KVM_SET_NR_MMU_PAGES) too small for the split, which stops
 * with -ENOSPC, every 2M SPTE left is zapped here, one kvm_zap_gfn_range()
 * each; with -f cap on the debug kernel, after each allocation of the split
 * caches' refill failed in turn, the one SPTE it left.
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

			if (kvm_split_rmap_head_empty(&rmap[i]))
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
 * Why no fault can map above the new cap behind this walk: a vCPU fault
 * picks its level from the memslot it looked up under kvm->srcu and holds
 * that SRCU read lock until its SPTE is installed (vcpu_run() and
 * KVM_PRE_FAULT_MEMORY take it around the whole fault), and upstream's
 * kvm_set_memslot() publishes the new memslot and drains SRCU readers
 * (kvm_swap_active_memslots(): synchronize_srcu_expedited()) before
 * kvm_commit_memory_region() reaches kvm_mmu_slot_apply_flags() and us.
 * So every fault that saw the old cap has installed its SPTE before the
 * walk starts, and every later fault sees the new cap; faults that then
 * split what we split race with the walk by cmpxchg (kvm_split_tdp_root()).
 * Widened by read_lock_race_test -t lower (a delay after make_spte(), where
 * a fault that picked its level from the old slot sits with mmu_lock held
 * for read; no 2M mapping may be left when the ioctl returns).
 *
 * Locking: kvm->slots_lock held (memslot update), no mmu_lock.
 */
static void kvm_split_lower_cap(struct kvm *kvm,
				const struct kvm_memory_slot *slot, int level)
{
	gfn_t start = slot->base_gfn, end = slot->base_gfn + slot->npages;
	struct kvm_split_count count = {};
	int r = -EOPNOTSUPP;

	if (kvm_split_tdp_mmu_enabled(kvm)) {
		r = kvm_split_walk(kvm, slot, start, end,
				   level == PG_LEVEL_4K ? SZ_4K : SZ_2M,
				   KVM_SPLIT_BY_MEMSLOT_CAP, &count);
	}
	if (r)
		kvm_zap_gfn_range(kvm, start, end);
	else
		kvm_split_zap_shadow_huge(kvm, slot, level);
}

#ifndef KVM_SPLIT_HAVE_RECOVER_HUGE_PAGES
/*
 * Up to 6.12 only: in-place recovery of huge mappings when the cap is
 * raised.  6.13 added its own (kvm_mmu_recover_huge_pages(), used by
 * kvm_split_raise_cap() below), and kvm-split builds on it there.
 */

/*
 * With the NX huge page mitigation on, KVM never makes a huge SPTE
 * executable (make_spte(); 6.13's make_huge_spte() for in-place recovery
 * too): a guest that executes from it faults and gets 4K mappings.  The 4K
 * entries of a split huge page are executable (make_huge_page_split_spte()),
 * so a huge SPTE rebuilt from them must drop that.
 *
 * Locking: none of its own; computes a value (the caller holds mmu_lock).
 */
static u64 kvm_split_huge_nx(struct kvm *kvm, u64 spte)
{
	bool access_track = is_access_track_spte(spte);

	if (!is_nx_huge_page_enabled(kvm))
		return spte;
	if (access_track)
		spte = restore_acc_track_spte(spte);
	spte &= ~shadow_x_mask;
	spte |= shadow_nx_mask;
	if (access_track)
		spte = mark_spte_for_access_track(spte);
	return spte;
}

/*
 * The huge SPTE that maps exactly what the page table under @iter maps (a
 * non-leaf SPTE at a huge level), or 0 if there is none: every entry must
 * be a present leaf, the pfns contiguous from a first one aligned to the
 * huge size, and all other bits but accessed/dirty and the writable bit
 * equal.  The huge SPTE is writable only if every entry is.  It then maps
 * no page that was not mapped, with no permission that was not granted
 * to every page: the guest cannot tell but by a write fault, and an MMU
 * notifier invalidation that zapped any of the entries makes us skip the
 * table.  Accessed and dirty state of the old entries is handed to the
 * primary MMU when the table is removed (handle_removed_pt()).  Tables
 * made for the NX huge page mitigation stay, and with the mitigation on
 * the huge SPTE is not executable, as every huge SPTE KVM makes.
 *
 * Why the writable bit may differ: a dirty log cleared in part before
 * logging stopped (a migration cancelled half way; QEMU clears as it
 * sends) leaves some entries write-protected (without PML, KVM clears the
 * writable bit, keeping MMU-writable: clear_dirty_pt_masked()) and others
 * writable.  Logging is off when we get here, so the first write to the
 * huge SPTE only takes a fast page fault that makes it writable again
 * (MMU-writable is compared, so it is in every entry or in none; with
 * none, the write takes the slow path, as it would have for each 4K
 * entry); the host-writable bit, which says whether the host lets KVM map
 * the page writable at all, must still be the same in every entry.
 * Requiring equal writable bits would leave such tables to the zap of
 * collapsible SPTEs that follows, and the guest would fault its huge pages
 * back.  memslot_page_size_test rebuilds such a slot (no vCPU running).
 * A fast page fault that makes a write-protected entry writable between
 * our read and the parent's cmpxchg leaves the huge SPTE non-writable,
 * which costs one more fault; read_lock_race_test -t recover widens that
 * window, but with every entry writable (its vCPUs write with logging
 * off): the mixed case's race is argued here, not widened by a test.
 *
 * Locking: mmu_lock held for read, under rcu_read_lock().
 */
static u64 kvm_split_collapsed_spte(struct kvm *kvm, struct tdp_iter *iter)
{
	struct kvm_mmu_page *child = spte_to_child_sp(iter->old_spte);
	u64 ignored = SPTE_BASE_ADDR_MASK | shadow_accessed_mask |
		      shadow_dirty_mask | PT_WRITABLE_MASK;
	u64 step = KVM_PAGES_PER_HPAGE(iter->level - 1);
	u64 first = READ_ONCE(child->spt[0]), spte;
	u64 writable = PT_WRITABLE_MASK;
	kvm_pfn_t pfn = spte_to_pfn(first);
	int i;

	if (kvm_split_sp_nx_disallowed(child) ||
	    !IS_ALIGNED(pfn, KVM_PAGES_PER_HPAGE(iter->level)))
		return 0;

	for (i = 0; i < SPTE_ENT_PER_PAGE; i++) {
		spte = READ_ONCE(child->spt[i]);
		if (!is_shadow_present_pte(spte) ||
		    !is_last_spte(spte, iter->level - 1) ||
		    spte_to_pfn(spte) != pfn + i * step ||
		    (spte & ~ignored) != (first & ~ignored))
			return 0;
		writable &= spte;
	}
	first = (first & ~PT_WRITABLE_MASK) | writable;
	/* 4K entries have no page-size bit; 2M ones have it already. */
	return kvm_split_huge_nx(kvm, first | PT_PAGE_SIZE_MASK);
}

/*
 * Replace the page tables at @level of @root that map one huge page of
 * @slot, as far as the slot's cap, the host mapping and lpage_info allow,
 * with that huge mapping, each by an atomic exchange of the parent SPTE, as
 * the fault path does when it maps a huge page over a page table.
 *
 * The 512 children are read before the cmpxchg of the parent; why nothing
 * that happens in between is lost, by the upstream orderings this relies
 * on:
 *  - MMU notifier zaps cannot run in between: in 6.12 they take mmu_lock
 *    for write (kvm_handle_hva_range()) before the primary MMU changes its
 *    page tables, and faults do not re-install a zapped SPTE until the
 *    invalidation ends (mmu_invalidate_retry_gfn()).  Children all present
 *    under our read lock thus map pages the primary MMU maps (at the level
 *    host_pfn_mapping_level() reads under the same lock), and a later
 *    invalidation zaps the huge SPTE as it would have zapped them.
 *  - vCPUs keep running: hardware sets accessed/dirty bits in the children
 *    and lockless fast page faults may make one writable.  The huge SPTE
 *    takes the permissions every child had when read, writable only if
 *    all were (at most fewer than a child gained since, which only costs
 *    a fault); when the cmpxchg removes the table, handle_removed_pt()
 *    freezes each child by an atomic exchange and hands the accessed/dirty
 *    state it really had to the primary MMU.  The data is in the same
 *    pages either way.
 *  - Faults under the read lock that change the parent (a zapped table
 *    re-faulted huge) make our cmpxchg fail (tdp_mmu_set_spte_atomic()
 *    compares with the value read): we re-read and retry.
 * Widened by read_lock_race_test -t recover (delays at
 * tdp_mmu_set_spte_atomic() entry, between the read of the children and
 * the cmpxchg, and after make_spte() in faults, while the cap is lowered
 * and raised under writing vCPUs and a zapper).
 *
 * Locking: kvm->slots_lock and mmu_lock (read) held.  rcu_read_lock() is
 * held across the TLB flush, here or in tdp_mmu_iter_cond_resched(), so no
 * removed table is freed while a vCPU's paging-structure cache may still
 * point to it.
 */
static void kvm_split_recover_root(struct kvm *kvm, struct kvm_mmu_page *root,
				   const struct kvm_memory_slot *slot,
				   int level)
{
	gfn_t start = slot->base_gfn, end = start + slot->npages;
	struct tdp_iter iter;
	bool flush = false;
	u64 huge;

	rcu_read_lock();
	kvm_split_for_each_tdp_pte_min_level(iter, kvm, root, level, start, end) {
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, flush, true)) {
			flush = false;
			continue;
		}

		if (iter.level != level ||
		    !is_shadow_present_pte(iter.old_spte) ||
		    is_last_spte(iter.old_spte, iter.level))
			continue;

		/* lpage_info only covers huge pages inside the slot. */
		if (iter.gfn < start ||
		    iter.gfn + KVM_PAGES_PER_HPAGE(level) > end ||
		    kvm_mmu_max_mapping_level(kvm, slot, iter.gfn, level) < level)
			continue;

		huge = kvm_split_collapsed_spte(kvm, &iter);
		if (!huge)
			continue;
		if (tdp_mmu_set_spte_atomic(kvm, &iter, huge))
			goto retry;
		flush = true;
	}
	if (flush)
		kvm_flush_remote_tlbs_memslot(kvm, slot);
	rcu_read_unlock();
}

/*
 * A raised cap: make the slot's small mappings huge again in place where
 * they map whole huge pages, 2M first, then 1G out of 2M, so vCPUs do not
 * have to fault them back in.  Linux 6.12 only zaps collapsible mappings
 * (6.13 recovers in place when dirty logging is disabled); the caller zaps
 * whatever this leaves collapsible, and the shadow MMU's mappings.  Never
 * while the slot's writes are tracked: a huge writable SPTE would hide
 * writes from dirty logging.
 *
 * Locking: kvm->slots_lock held; takes mmu_lock for read.
 */
static void kvm_split_recover_huge_pages(struct kvm *kvm,
					 const struct kvm_memory_slot *slot)
{
	int level, max = kvm_split_slot_max_level(slot);
	struct kvm_mmu_page *root;

	if (!kvm_split_tdp_mmu_enabled(kvm) || kvm_slot_dirty_track_enabled(slot) ||
	    kvm_slot_can_be_private(slot))
		return;

	read_lock(&kvm->mmu_lock);
	for (level = PG_LEVEL_2M; level <= min(max, KVM_MAX_HUGEPAGE_LEVEL);
	     level++)
		for (root = kvm_split_next_root(kvm, NULL); root;
		     root = kvm_split_next_root(kvm, root))
			if (kvm_mmu_page_as_id(root) == slot->as_id)
				kvm_split_recover_root(kvm, root, slot, level);
	read_unlock(&kvm->mmu_lock);
}

#endif /* !KVM_SPLIT_HAVE_RECOVER_HUGE_PAGES */

/*
 * A raised cap: bring back huge mappings, so that vCPUs need not fault them
 * in again, up to the new cap.
 *
 * 7.x (6.13 on): upstream's kvm_mmu_recover_huge_pages(), which KVM runs
 * when dirty logging is disabled: the shadow MMU's collapsible SPTEs are
 * zapped under mmu_lock held for write, and each TDP MMU page table of the
 * slot that kvm_mmu_max_mapping_level() allows to map huge (the cap hook
 * is in it, so never above the new cap) is replaced under the read lock by
 * a huge SPTE built from its first leaf (make_huge_spte(), not executable
 * under the NX huge page mitigation).  That is what kvm-split's own copy
 * did up to 6.12, with two differences: upstream makes the SPTE huge when
 * the host maps the range huge even if the guest touched only part of it
 * (the rest is then mapped with no fault; kvm-split's copy wanted all 512
 * entries present and zapped the rest), and it also recovers the tables
 * made for the NX mitigation, whose exec faults then split them again.
 * Its locking argument against faults, zaps and fast page faults is
 * upstream's (same cmpxchg of the parent against the value read, same
 * 7.x rule that MMU notifier zaps take mmu_lock for write).  Skipped for
 * VMs with private memory: kvm_mmu_max_mapping_level() with no fault
 * WARNs for a private gfn (guest_memfd has no huge page lookup there yet),
 * so the slot is zapped and re-faulted at the new cap instead.
 *
 * Up to 6.12: kvm-split's copy, then upstream's zap of what is still
 * collapsible.
 *
 * Locking: kvm->slots_lock held, no mmu_lock (the callees take it).
 */
static void kvm_split_raise_cap(struct kvm *kvm,
				const struct kvm_memory_slot *slot)
{
#ifdef KVM_SPLIT_HAVE_RECOVER_HUGE_PAGES
	if (kvm_arch_has_private_mem(kvm))
		kvm_zap_gfn_range(kvm, slot->base_gfn,
				  slot->base_gfn + slot->npages);
	else
		kvm_mmu_recover_huge_pages(kvm, slot);
#else
	kvm_split_recover_huge_pages(kvm, slot);
	kvm_mmu_zap_collapsible_sptes(kvm, slot);
#endif
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
		 * Raised cap: recover huge mappings where the pages allow.
		 * While dirty logging is on mappings stay small anyway, and
		 * disabling it recovers them (zaps collapsible SPTEs up to
		 * 6.12).
		 */
		kvm_split_raise_cap(kvm, new);
	}
}
