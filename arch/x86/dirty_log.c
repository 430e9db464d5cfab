// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: re-arm dirty logging under mmu_lock held for read (x86).
 *
 * Upstream's KVM_CLEAR_DIRTY_LOG re-arms the cleared pages with
 * kvm_arch_mmu_enable_log_dirty_pt_masked() under mmu_lock held for write,
 * which the shadow MMU's rmaps and PML's dirty-bit clearing need.  On the
 * TDP MMU alone, write-protecting a page is an atomic update of its SPTEs,
 * as upstream already does under the read lock when dirty logging is
 * enabled (wrprot_gfn_range()).  The chunked clear uses this path while the
 * VM has no shadow-MMU pages and the CPU logs by write protection (no PML):
 * vCPU faults then wait for a clear's own write hold only while it drains
 * the readers of the moment (one empty write hold per call).  They can
 * still wait behind another writer (an MMU notifier invalidation) that
 * waits for the clear's read-locked walk of a chunk: the chunk bounds that.
 *
 * Why no write is lost.  The caller (dirty_log/clear_chunked.c) clears the
 * dirty bits of every chunk of the range with atomic_long_fetch_andnot(),
 * keeping only the bits that were set; takes and
 * releases mmu_lock for write once (the drain); then, chunk by chunk under
 * the read lock again, this write-protects the pages whose bits it cleared
 * by cmpxchg of their SPTEs; the TLBs are flushed before the ioctl returns,
 * as upstream.  Each way a write could
 * escape, and the upstream ordering that closes it:
 *  - A slow-path fault (kvm_tdp_mmu_map(), read lock) sets the bit in
 *    make_spte() *before* tdp_mmu_map_handle_target_level() installs the
 *    writable SPTE.  If we clear that bit in between, the SPTE is not there
 *    for us to write-protect.  The drain closes it: the fault marked while
 *    holding the read lock and installs before read_unlock(), whose release
 *    pairs with our write_lock()'s acquire, so after the drain its SPTE is
 *    visible and the walk below write-protects it.  (Without the drain
 *    selftests/clear_dirty_log_race_test.c lost pages in every run; with
 *    it, none.)  A fault that marks after our fetch_andnot keeps its bit.
 *  - The fast path (fast_page_fault(), no mmu_lock) makes an SPTE writable
 *    with a cmpxchg and marks the bit *after* it
 *    (fast_pf_fix_direct_spte()): if we cleared the bit the cmpxchg came
 *    first (both are locked RMWs on x86) and our walk sees the writable
 *    SPTE; if not, the bit is set after our clear and stays set.  Between
 *    the cmpxchg and the mark, another vCPU can write the page through the
 *    new SPTE: userspace may see that write before its bit, never lose it
 *    (the bit comes when the faulting task resumes, and a VMM's last pass
 *    runs with the vCPUs stopped).  Upstream's clear has the same window.
 *  - A vCPU write after the SPTE became read-only faults, and one of the two
 *    paths above sets the bit again.
 *  - A write through a stale writable TLB entry before the flush lands
 *    before userspace reads the page, after the ioctl returns: it is in the
 *    copy, as upstream argues for its own single flush.
 *  - A fault racing the walk changes the SPTE by cmpxchg too: ours fails,
 *    re-reads it and looks again (tdp_mmu_set_spte_atomic()); a huge SPTE
 *    split meanwhile is re-read as a table and walked into.
 *  - Shadow-MMU pages (nested NPT/EPT, or shadow paging) are only created
 *    under the write lock and kvm_memslots_have_rmaps() never goes back to
 *    false, so none can appear during a read hold once it said there were
 *    none; the caller asks again under each walk's hold and falls back to
 *    upstream's write-locked re-arm if they appeared at any time since the
 *    call began (kvm-split's own code; the test-only parameter
 *    clear_dirty_log_test_fallback forces it).  A VM that has shadow
 *    pages when the call begins takes the write-locked path throughout
 *    (selftests/split_huge_pages_npt_test.c, L2 on nested NPT).
 * Widened by selftests/clear_dirty_log_race_test.c (a delay after
 * make_spte() returns, a zapper, first touches with initially-set); the
 * other orderings above are upstream's and are not widened by a test.
 *
 * What a port to another kernel series must re-check, as this relies on
 * each of them in 6.12: every mark-before-install of a fault happens inside
 * one mmu_lock read section; the fast path marks after its cmpxchg; roots
 * are invalidated only under kvm->slots_lock and zapped before it is
 * released; no writable huge SPTE is created while dirty logging is on.
 * PML (Intel) clears dirty bits instead of write-protecting: that path
 * keeps upstream's write lock here, as it cannot be tested under emulation.
 *
 * Re-checked on 7.3: each of the four still holds as written (make_spte()
 * marks, tdp_mmu_map_handle_target_level() installs, one read section;
 * fast_pf_fix_direct_spte() marks after its cmpxchg; roots invalidated by
 * the fast zap, which asserts kvm->slots_lock; kvm_mmu_hugepage_adjust()
 * still maps 4K in a dirty-logged slot and the 6.13 in-place recovery runs
 * only when logging is disabled).  New read-side writers race the walk
 * by cmpxchg like faults: lockless aging (6.15, accessed bit only; an
 * access-tracked SPTE is not writable) and NX recovery (6.18).  The PML
 * test is per VM on 7.x (kvm->arch.cpu_dirty_log_size).  The "lost writes"
 * the hunt of clear_dirty_log_chunk_test reported now and then on 7.3 were
 * that fast-path window, stretched by Debian 7.x's PREEMPT_LAZY (6.12:
 * PREEMPT_VOLUNTARY) when the faulting task is preempted between cmpxchg
 * and mark: the distro's own KVM shows it too, and every such bit is set a
 * few milliseconds later (Documentation/kernels.rst).
 */
#include <linux/kvm_host.h>

#include "mmu.h"
#include "mmu/mmu_internal.h"
#include "mmu/spte.h"
#include "mmu/tdp_iter.h"
#include "mmu/tdp_mmu.h"

#include <kvm-split/kvm_split.h>
#include <kvm-split/x86_mmu.h>

/* Locking: mmu_lock held for read, the same hold as the clear itself. */
bool kvm_arch_clear_dirty_log_shared_ok(struct kvm *kvm)
{
	lockdep_assert_held_read(&kvm->mmu_lock);

	return kvm_split_tdp_mmu_enabled(kvm) &&
	       !kvm_split_cpu_dirty_log_size(kvm) &&
	       !kvm_memslots_have_rmaps(kvm);
}

/*
 * Write-protect the 4K pages of @root at @base + the bits of @mask, and any
 * huge mapping over them whole (a huge page left by a failed split, with
 * manual-protect and initially-set).  Upstream write-protects such a huge
 * page with write_protect_gfn(), which also clears the MMU-writable bit;
 * clearing only the writable bit is as safe, because the fast path refuses
 * to make a huge SPTE of a dirty-logged slot writable
 * (kvm_mmu_page_fault -> fast_page_fault() checks the level), so the next
 * write takes the slow path and maps 4K; upstream's wrprot_gfn_range() at
 * dirty-log enable leaves the same state.
 *
 * Unlike upstream's clear_dirty_pt_masked(), nothing calls
 * kvm_set_pfn_dirty() here: with A/D bits the SPTE's dirty bit stays set,
 * and the folio is marked dirty when the SPTE is zapped (MMU notifier
 * before writeback), as for any SPTE upstream write-protects at enable.
 *
 * Locking: mmu_lock held for read, under rcu_read_lock(); never yields.
 */
static void kvm_split_wrprot_masked(struct kvm *kvm, struct kvm_mmu_page *root,
				    gfn_t base, unsigned long mask)
{
	struct tdp_iter iter;

	kvm_split_for_each_tdp_pte_min_level(iter, kvm, root, PG_LEVEL_4K,
					     base + __ffs(mask),
					     base + __fls(mask) + 1) {
retry:
		if (!is_shadow_present_pte(iter.old_spte) ||
		    !is_last_spte(iter.old_spte, iter.level) ||
		    !(iter.old_spte & PT_WRITABLE_MASK))
			continue;

		if (iter.level == PG_LEVEL_4K &&
		    !(mask & BIT_ULL(iter.gfn - base)))
			continue;

		if (tdp_mmu_set_spte_atomic(kvm, &iter,
					    iter.old_spte & ~PT_WRITABLE_MASK))
			goto retry;
	}
}

/*
 * See include/kvm-split/kvm_split.h.  Every valid TDP MMU root of the
 * slot's address space, as upstream's kvm_tdp_mmu_clear_dirty_pt_masked();
 * a root's reference is taken once per chunk rather than once per word,
 * and each non-zero word is one walk from the root.  Invalid roots are
 * skipped, as upstream does under the write lock: roots are invalidated
 * only by the fast zap, which holds kvm->slots_lock (as does the clear)
 * and zaps them before releasing it, and at VM teardown.
 *
 * Locking: mmu_lock held for read, kvm_arch_clear_dirty_log_shared_ok()
 * true under the same hold; never yields (the chunk bounds the hold).
 */
void kvm_arch_clear_dirty_log_shared(struct kvm *kvm,
				     const struct kvm_memory_slot *slot,
				     gfn_t gfn_offset,
				     const unsigned long *masks,
				     unsigned long nr)
{
	gfn_t base = slot->base_gfn + gfn_offset;
	struct kvm_mmu_page *root;
	unsigned long i;

	lockdep_assert_held_read(&kvm->mmu_lock);

	for (root = kvm_split_next_root(kvm, NULL); root;
	     root = kvm_split_next_root(kvm, root)) {
		if (kvm_mmu_page_as_id(root) != slot->as_id)
			continue;
		rcu_read_lock();
		for (i = 0; i < nr; i++)
			if (masks[i])
				kvm_split_wrprot_masked(kvm, root,
							base + i * BITS_PER_LONG,
							masks[i]);
		rcu_read_unlock();
	}
}
