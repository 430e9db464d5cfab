// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: the x86 huge page split walker.
 *
 * TDP MMU (NPT/EPT): one pre-order walk per root under mmu_lock held for
 * read, built from upstream's own pieces (tdp_iter, tdp_mmu_split_huge_page,
 * the split page allocator), as upstream's eager page splitting does.
 * Unlike tdp_mmu_split_huge_pages_root() it reports how many mappings it
 * split per size and where it ran out of memory, which the explicit split
 * ioctl and the memslot page-size cap need.
 *
 * Shadow MMU (nested guests' mappings, rmap based): upstream's
 * kvm_shadow_mmu_try_split_huge_pages() under mmu_lock held for write.
 */
#include <linux/kvm_host.h>
#include <linux/sizes.h>

#include "mmu.h"
#include "x86.h"
#include "mmu/mmu_internal.h"
#include "mmu/spte.h"
#include "mmu/tdp_iter.h"
#include "mmu/tdp_mmu.h"

#include <kvm-split/kvm_split.h>
#include <kvm-split/x86_mmu.h>

u64 kvm_arch_split_page_sizes(struct kvm *kvm)
{
	/* Splitting under the read lock needs the TDP MMU, as upstream's. */
	return kvm_split_tdp_mmu_enabled(kvm) ? SZ_4K | SZ_2M : 0;
}

/*
 * Split the huge SPTEs of @root in [@start, @end) that map more than
 * @target_level, in one pre-order walk: a 1G page is split into 2M pages
 * whose children the walk then visits, so 1G -> 2M -> 4K is one pass.
 *
 * Each new page table is filled before it is linked, and linked with a
 * cmpxchg of the parent SPTE (tdp_mmu_split_huge_page()), so concurrent
 * faults, dirty logging and MMU notifier zaps either see the huge SPTE or
 * the complete table.  Children inherit the huge SPTE's permissions and
 * dirty state and translate the same addresses, so no TLB flush is needed.
 *
 * Why no split can map a page the primary MMU has dropped, nor undo a
 * concurrent change, by the upstream orderings this relies on:
 *  - MMU notifier zaps cannot interleave with the read of the huge SPTE
 *    and its cmpxchg: in 6.12 kvm_mmu_notifier_invalidate_range_start()
 *    zaps under mmu_lock held for write (kvm_handle_hva_range()), before
 *    the primary MMU changes its page tables.  A huge SPTE present under
 *    our read lock therefore maps pages the primary MMU still maps, and a
 *    later invalidation zaps the children as it would have zapped it.
 *  - While mmu_lock is dropped to allocate, zaps run; the walk then
 *    restarts from the root (iter.yielded, tdp_iter_restart()) and reads
 *    every SPTE afresh.  Page tables a zap removed are freed only after an
 *    RCU grace period (handle_removed_pt(), call_rcu()), and the walker
 *    holds rcu_read_lock() whenever it holds the lock.
 *  - vCPU faults also split huge pages under the read lock (the NX huge
 *    page workaround, dirty logging); they and we link by cmpxchg against
 *    the SPTE value read (tdp_mmu_set_spte_atomic()), so the loser sees
 *    the change, re-reads the SPTE and retries or skips it.
 *  - 7.x (re-checked on 7.3): MMU notifier zaps still take the write
 *    lock (only aging runs lockless, since 6.15, and it only clears the
 *    accessed bit by cmpxchg, not retried).  Since 6.18 the NX huge page
 *    recovery worker zaps under the read lock, by cmpxchg, like a fault:
 *    a parent it froze or zapped reads as non-present and is skipped, and
 *    the table it removed is freed after an RCU grace period.  Split
 *    tables are no longer zeroed (7.1); tdp_mmu_split_huge_page() still
 *    writes all 512 entries before it links one.
 * The test that widens these windows: read_lock_race_test -t split
 * (delays in tdp_mmu_split_huge_page(), with the lock held, and in
 * tdp_mmu_alloc_sp_for_split(), with it dropped, while a zapper frees and
 * rewrites pages and exec faults split; see Documentation/reliability.rst).
 *
 * Locking: mmu_lock held for read on entry and on return; dropped to
 * allocate page tables (GFP_KERNEL_ACCOUNT, charged to the VM's memcg) and
 * when tdp_mmu_iter_cond_resched() yields.
 */
static int kvm_split_tdp_root(struct kvm *kvm, struct kvm_mmu_page *root,
			      gfn_t start, gfn_t end, int target_level,
			      struct kvm_split_count *count)
{
	struct kvm_mmu_page *sp = NULL;
	struct tdp_iter iter;

	lockdep_assert_held_read(&kvm->mmu_lock);

	rcu_read_lock();
	kvm_split_for_each_tdp_pte_min_level(iter, kvm, root, target_level + 1,
					     start, end) {
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, false, true))
			continue;

		if (!is_shadow_present_pte(iter.old_spte) ||
		    !is_large_pte(iter.old_spte))
			continue;

		if (!sp) {
			rcu_read_unlock();
			read_unlock(&kvm->mmu_lock);
			sp = kvm_split_alloc_sp();
			read_lock(&kvm->mmu_lock);
			if (!sp)
				return -ENOMEM;
			rcu_read_lock();
			/* mmu_lock was dropped: restart the walk from the root. */
			iter.yielded = true;
			continue;
		}

		kvm_split_init_child_sp(sp, &iter);
		if (tdp_mmu_split_huge_page(kvm, &iter, sp, true))
			goto retry;

		if (iter.level == PG_LEVEL_1G)
			count->split_1g++;
		else
			count->split_2m++;
		sp = NULL;
	}
	rcu_read_unlock();

	/* A racing fault may have split the page we allocated for. */
	if (sp)
		kvm_split_free_sp(sp);
	return 0;
}

/* Locking: mmu_lock held for read. */
static int kvm_split_tdp_mmu(struct kvm *kvm, int as_id, gfn_t start,
			     gfn_t end, int target_level,
			     struct kvm_split_count *count)
{
	struct kvm_mmu_page *root;
	int r = 0;

	for (root = kvm_split_next_root(kvm, NULL); root;
	     root = kvm_split_next_root(kvm, root)) {
		if (kvm_mmu_page_as_id(root) != as_id)
			continue;
		r = kvm_split_tdp_root(kvm, root, start, end, target_level,
				       count);
		if (r) {
			kvm_split_put_root(kvm, root);
			break;
		}
	}
	return r;
}

/*
 * See include/kvm-split/kvm_split.h.  Locking: kvm->slots_lock held by the
 * caller (the shadow MMU's split caches require it); takes mmu_lock for
 * write around the shadow MMU part and for read around the TDP MMU part.
 */
int kvm_arch_split_huge_pages(struct kvm *kvm,
			      const struct kvm_memory_slot *slot,
			      gfn_t start, gfn_t end, u64 page_size,
			      struct kvm_split_count *count)
{
	int target_level = page_size == SZ_2M ? PG_LEVEL_2M : PG_LEVEL_4K;
	int r;

	lockdep_assert_held(&kvm->slots_lock);

	if (WARN_ON_ONCE(!kvm_split_tdp_mmu_enabled(kvm)))
		return -EINVAL;

	/*
	 * Nested guests' huge mappings.  Upstream's walk yields mmu_lock as
	 * needed and is best effort: a failed refill of its split caches
	 * (-ENOMEM) or the VM's shadow page budget (-ENOSPC) leaves that
	 * SPTE huge, and it reports neither that nor a count.  So @count, the
	 * split_huge_* stats and the result cover the TDP MMU only; the shadow
	 * MMU's splits show in upstream's page stats and mmu_cache_miss (one
	 * new shadow page each).  Counting them here would take a hook in
	 * upstream's shadow_mmu_try_split_huge_page() and per-VM state, in
	 * every series' patches, for a walk kvm-split leaves as upstream's;
	 * a lowered cap zaps what it leaves (kvm_split_zap_shadow_huge()),
	 * and KVM_CLEAR_DIRTY_LOG write-protects it whole as upstream does.
	 * Exercised by selftests/split_huge_pages_npt_test.c (L2 on nested
	 * NPT; -f sweeps allocation failures on the debug kernel).
	 */
	if (kvm_memslots_have_rmaps(kvm)) {
		write_lock(&kvm->mmu_lock);
		kvm_shadow_mmu_try_split_huge_pages(kvm, slot, start, end,
						    target_level);
		write_unlock(&kvm->mmu_lock);
	}

	read_lock(&kvm->mmu_lock);
	r = kvm_split_tdp_mmu(kvm, slot->as_id, start, end, target_level,
			      count);
	read_unlock(&kvm->mmu_lock);

	/*
	 * No TLB flush: split SPTEs map the same pages with the same
	 * permissions, so a stale huge TLB entry is still correct.
	 */
	return r;
}

/*
 * See include/kvm-split/kvm_split.h.  Upstream splits around the cleared
 * bits of each word under the write lock in
 * kvm_arch_mmu_enable_log_dirty_pt_masked() in exactly this case.
 */
bool kvm_arch_clear_dirty_log_presplit_ok(struct kvm *kvm)
{
	return kvm_split_tdp_mmu_enabled(kvm) && READ_ONCE(eager_page_split) &&
	       kvm_dirty_log_manual_protect_and_init_set(kvm);
}

/*
 * See include/kvm-split/kvm_split.h.  Splitting those pages first, under
 * the read lock, leaves the clear nothing to split.  Best effort as
 * upstream: on -ENOMEM the huge page is write-protected whole and split at
 * fault time.  Faults that split the same huge pages meanwhile are the
 * walker's concurrent faults (cmpxchg of the parent, see
 * kvm_split_tdp_root()); the children keep the huge SPTE's writable and
 * dirty bits, and the clear write-protects them afterwards under its own
 * lock, so no write escapes the log.  Widened by read_lock_race_test -t
 * presplit (delay in tdp_mmu_split_huge_page(), exec-fault splits, a VMM
 * loop that must lose no write).
 */
void kvm_arch_clear_dirty_log_presplit(struct kvm *kvm,
				       const struct kvm_memory_slot *slot,
				       gfn_t start, gfn_t end)
{
	struct kvm_split_count count = {};

	kvm_split_walk(kvm, slot, slot->base_gfn + start, slot->base_gfn + end,
		       SZ_4K, KVM_SPLIT_BY_CLEAR_DIRTY_LOG, &count);
}
