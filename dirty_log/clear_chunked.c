// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: KVM_CLEAR_DIRTY_LOG in chunks with bounded mmu_lock holds.
 *
 * Upstream's kvm_clear_dirty_log_protect() takes mmu_lock for write once and
 * walks the whole range userspace passes (QEMU: up to 1 GiB), splitting
 * huge pages under that lock on the first clear with manual-protect and
 * initially-set.  vCPUs faulting meanwhile wait on the lock.  With a chunk
 * size set (KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, or the clear_dirty_log_chunk
 * module parameter for VMs that never set it), each chunk of the range is
 * handled on its own: the huge pages around its dirty pages to clear are
 * split first under mmu_lock held for read, then its bits are cleared and
 * its pages write-protected (or D-bit cleaned) under the write lock for
 * that chunk only; the lock is then released and the task may reschedule
 * before the next chunk.
 *
 * Where the arch can re-arm dirty logging with atomic SPTE updates (x86:
 * TDP MMU only, no shadow-MMU pages, no PML; module parameter
 * clear_dirty_log_shared, default on), no work is done under the write
 * lock: every chunk's bits are cleared (atomically, with no mmu_lock), the
 * write lock is taken and released once to wait for the readers of the
 * moment (vCPU faults that may have set a bit just cleared and not yet
 * installed their SPTE), and every chunk's pages are then write-protected
 * under the read lock.  kvm_split_clear_dirty_log_chunked() and
 * arch/x86/dirty_log.c explain why no write is lost that way, and why one
 * would be without the drain.
 *
 * TLB flushing is upstream's: one flush of the memslot after the last
 * chunk, before the ioctl returns.  That suffices for the same reason it
 * does upstream: userspace reads a page's contents only after CLEAR
 * returns, so a write that slips through a stale writable TLB entry before
 * the flush is in the copy, and every write after the flush faults and sets
 * the bit again.  A bit set again by such a fault after its chunk was
 * cleared stays set: chunks never revisit a word.
 */
#include <linux/kvm_host.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>

#include "kvm_mm.h"

#include <kvm-split/kvm_split.h>

/* The per-VM value, stored as chunk | KVM_SPLIT_CHUNK_SET; 0: never set. */
#define KVM_SPLIT_CHUNK_SET	BIT_ULL(63)

/*
 * The largest chunk: 2^18 pages, 1 GiB of 4 KiB pages.  That is the most
 * QEMU clears in one KVM_CLEAR_DIRTY_LOG by default (x-clear-bitmap-shift
 * 18): such a call already fits in one chunk, so a larger chunk would
 * change nothing for it.  And a chunk is walked without yielding, under
 * one mmu_lock hold (for read or write), so the bound also bounds the
 * longest hold and the longest stretch without rescheduling, whatever
 * range userspace passes.  The smallest, 64 pages, is one word of the
 * dirty bitmap.
 */
#define KVM_SPLIT_CHUNK_MIN	64ULL
#define KVM_SPLIT_CHUNK_MAX	BIT_ULL(18)

/*
 * A valid chunk: 0 (one pass) or a power of two from 64 to 2^18 pages.
 * Locking: none, a pure check.
 */
static bool kvm_split_chunk_valid(u64 chunk)
{
	return !chunk || (is_power_of_2(chunk) && chunk >= KVM_SPLIT_CHUNK_MIN &&
			  chunk <= KVM_SPLIT_CHUNK_MAX);
}

static unsigned long clear_dirty_log_chunk;

static int clear_dirty_log_chunk_set(const char *val,
				     const struct kernel_param *kp)
{
	unsigned long chunk;
	int r;

	r = kstrtoul(val, 0, &chunk);
	if (r)
		return r;
	if (!kvm_split_chunk_valid(chunk))
		return -EINVAL;
	WRITE_ONCE(clear_dirty_log_chunk, chunk);
	return 0;
}

static const struct kernel_param_ops clear_dirty_log_chunk_ops = {
	.set = clear_dirty_log_chunk_set,
	.get = param_get_ulong,
};
module_param_cb(clear_dirty_log_chunk, &clear_dirty_log_chunk_ops,
		&clear_dirty_log_chunk, 0644);
MODULE_PARM_DESC(clear_dirty_log_chunk,
		 "KVM_CLEAR_DIRTY_LOG chunk in 4 KiB pages (0, or a power of 2 from 64 to 262144) for VMs that do not set KVM_CAP_CLEAR_DIRTY_LOG_CHUNK (0: one pass, as upstream)");

static bool clear_dirty_log_shared = true;
module_param(clear_dirty_log_shared, bool, 0644);
MODULE_PARM_DESC(clear_dirty_log_shared,
		 "Chunked KVM_CLEAR_DIRTY_LOG re-arms pages under mmu_lock held for read where the arch allows it");

/*
 * Test only: skip the drain of kvm_split_clear_dirty_log_chunked(), which
 * loses writes.  It exists so that CI proves on every run that
 * clear_dirty_log_race_test still catches the race the drain closes
 * (make -C selftests check-harness); setting it says so in the log.
 */
static bool clear_dirty_log_unsafe_skip_drain;
module_param(clear_dirty_log_unsafe_skip_drain, bool, 0644);
MODULE_PARM_DESC(clear_dirty_log_unsafe_skip_drain,
		 "Test only: let read-locked KVM_CLEAR_DIRTY_LOG lose writes (taints)");

/*
 * Test only: after the drain, re-arm as if shadow-MMU pages had appeared
 * since the call began (kvm_split_rearm_shared()'s write-locked fallback),
 * which no test reaches otherwise: shadow pages (L2 on nested NPT,
 * split_huge_pages_npt_test) would have to appear within the call.
 * Safe: the fallback is upstream's re-arm.
 */
static bool clear_dirty_log_test_fallback;
module_param(clear_dirty_log_test_fallback, bool, 0644);
MODULE_PARM_DESC(clear_dirty_log_test_fallback,
		 "Test only: re-arm read-locked clears through the write-locked fallback");

/* The chunk size in pages for @kvm, 0 for upstream's single pass. */
u64 kvm_split_clear_chunk(struct kvm *kvm)
{
	u64 v = READ_ONCE(kvm->split_clear_chunk);

	if (v & KVM_SPLIT_CHUNK_SET)
		return v & ~KVM_SPLIT_CHUNK_SET;
	return READ_ONCE(clear_dirty_log_chunk);
}

/*
 * KVM_ENABLE_CAP(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK); may be changed any time.
 * Locking: none; a clear reads the value once (kvm_split_clear_chunk()).
 */
int kvm_split_enable_clear_chunk(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	if (cap->flags || cap->args[1] || cap->args[2] || cap->args[3] ||
	    !kvm_split_chunk_valid(cap->args[0]))
		return -EINVAL;
	WRITE_ONCE(kvm->split_clear_chunk, cap->args[0] | KVM_SPLIT_CHUNK_SET);
	return 0;
}

/* Raise the peak hold statistic.  Locking: none, a cmpxchg loop. */
static void kvm_split_note_hold(struct kvm *kvm, u64 ns)
{
	u64 *peak = &kvm->stat.generic.clear_dirty_max_hold_ns;
	u64 old = READ_ONCE(*peak);

	while (ns > old && !try_cmpxchg64(peak, &old, ns))
		;
}

/*
 * Clear word @i of @buf in @slot's dirty bitmap, atomically (vCPUs set bits
 * concurrently), and return the bits that were set: only those pages get
 * re-armed.
 *
 * Locking: none needed for the bitmap (the update is atomic); callers hold
 * mmu_lock for write when they re-arm in the same hold.
 */
static unsigned long kvm_split_clear_word(struct kvm_memory_slot *slot,
					  u64 first_page, unsigned long *buf,
					  unsigned long i)
{
	atomic_long_t *p = (atomic_long_t *)
		&slot->dirty_bitmap[first_page / BITS_PER_LONG + i];

	return buf[i] ? buf[i] & atomic_long_fetch_andnot(buf[i], p) : 0;
}

/*
 * Clear words [@i, @n) of @buf and re-arm dirty logging for the pages whose
 * bits were really cleared, as upstream.  Returns true if a TLB flush is
 * needed.
 *
 * Locking: mmu_lock held for write.
 */
static bool kvm_split_clear_words(struct kvm *kvm,
				  struct kvm_memory_slot *slot, u64 first_page,
				  unsigned long *buf, unsigned long i,
				  unsigned long n)
{
	unsigned long mask;
	bool flush = false;

	for (; i < n; i++) {
		mask = kvm_split_clear_word(slot, first_page, buf, i);
		if (!mask)
			continue;
		flush = true;
		kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, slot,
							first_page + i * BITS_PER_LONG,
							mask);
	}
	return flush;
}

/*
 * Whether this call re-arms under mmu_lock held for read: the parameter
 * allows it and so does the arch right now.  The arch's answer can only go
 * from yes to no (shadow-MMU pages appear), and is asked again under every
 * read hold that re-arms.
 *
 * Locking: kvm->slots_lock held; takes mmu_lock for read.
 */
static bool kvm_split_clear_shared_begin(struct kvm *kvm)
{
#ifdef KVM_HAVE_MMU_RWLOCK
	bool ok;

	if (!READ_ONCE(clear_dirty_log_shared))
		return false;
	read_lock(&kvm->mmu_lock);
	ok = kvm_arch_clear_dirty_log_shared_ok(kvm);
	read_unlock(&kvm->mmu_lock);
	return ok;
#else
	return false;
#endif
}

/*
 * Clear the bits of words [@i, @n) of @buf, keeping in @buf those really
 * cleared; returns true if any was.  The pages are re-armed later, after
 * the drain (kvm_split_clear_dirty_log_chunked()).
 *
 * Locking: kvm->slots_lock held, no mmu_lock: the bitmap update is atomic
 * (vCPUs set bits without mmu_lock too), and all the drain needs is that
 * the clear comes before its write_lock() in program order, which a fully
 * ordered RMW followed by a lock acquisition gives.
 */
static bool kvm_split_clear_bits(struct kvm_memory_slot *slot, u64 first_page,
				 unsigned long *buf, unsigned long i,
				 unsigned long n)
{
	bool cleared = false;

	for (; i < n; i++) {
		buf[i] = kvm_split_clear_word(slot, first_page, buf, i);
		cleared |= !!buf[i];
	}
	return cleared;
}

/*
 * Wait until every mmu_lock reader of this moment has left: an empty write
 * hold, counted as a hold all the same.  See
 * kvm_split_clear_dirty_log_chunked() for why.
 *
 * Locking: kvm->slots_lock held; takes mmu_lock for write.
 */
static void kvm_split_drain_readers(struct kvm *kvm)
{
	u64 t0;

	if (unlikely(READ_ONCE(clear_dirty_log_unsafe_skip_drain))) {
		pr_warn_once("kvm-split: clear_dirty_log_unsafe_skip_drain set: dirty writes can be lost\n");
		add_taint(TAINT_USER, LOCKDEP_STILL_OK);
		return;
	}
	t0 = ktime_get_ns();
	KVM_MMU_LOCK(kvm);
	KVM_MMU_UNLOCK(kvm);
	kvm_split_note_hold(kvm, ktime_get_ns() - t0);
}

/*
 * Re-arm the pages of words [@i, @n) of @buf, whose bits were cleared under
 * the read lock before the drain: under the read lock with atomic SPTE
 * updates while the arch allows it, else the upstream way under the write
 * lock (right for bits cleared earlier too: a bit set again meanwhile stays
 * set).
 *
 * Locking: kvm->slots_lock held; takes mmu_lock for read, or for write if
 * shadow-MMU pages appeared since kvm_split_clear_shared_begin().
 */
static void kvm_split_rearm_shared(struct kvm *kvm,
				   struct kvm_memory_slot *slot,
				   u64 first_page, unsigned long *buf,
				   unsigned long i, unsigned long n)
{
#ifdef KVM_HAVE_MMU_RWLOCK
	unsigned long j;
	u64 t0;

	read_lock(&kvm->mmu_lock);
	if (kvm_arch_clear_dirty_log_shared_ok(kvm) &&
	    likely(!READ_ONCE(clear_dirty_log_test_fallback))) {
		kvm_arch_clear_dirty_log_shared(kvm, slot,
						first_page + i * BITS_PER_LONG,
						buf + i, n - i);
		read_unlock(&kvm->mmu_lock);
		atomic64_inc((atomic64_t *)&kvm->stat.generic.clear_dirty_shared_chunks);
		return;
	}
	read_unlock(&kvm->mmu_lock);

	t0 = ktime_get_ns();
	KVM_MMU_LOCK(kvm);
	for (j = i; j < n; j++)
		if (buf[j])
			kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, slot,
								first_page + j * BITS_PER_LONG,
								buf[j]);
	KVM_MMU_UNLOCK(kvm);
	kvm_split_note_hold(kvm, ktime_get_ns() - t0);
#endif
}

/*
 * Pages in a gap shorter than this between two runs of bits to clear are
 * split in the same walk: no huge mapping is smaller than 512 base pages
 * (2 MiB on x86), so none lies wholly inside the gap, and the walk splits
 * exactly the mappings the two runs touch.
 */
#define KVM_SPLIT_PRESPLIT_GAP	512

/*
 * Split the huge mappings around the pages of words [@i, @n) of @buf whose
 * bits are set in @slot's dirty bitmap, i.e. those this chunk is about to
 * clear, as upstream splits around each word's really cleared bits in
 * kvm_arch_mmu_enable_log_dirty_pt_masked().  Pages the user asks to clear
 * but that are not dirty keep their huge mappings.  A bit a vCPU sets after
 * this look comes from a 4K write fault; if its huge mapping is still
 * there, the clear write-protects it whole and the next write splits it,
 * as upstream does when its split fails.
 *
 * Locking: kvm->slots_lock held, mmu_lock not held (the arch takes it for
 * read).
 */
static void kvm_split_presplit_words(struct kvm *kvm,
				     struct kvm_memory_slot *slot,
				     u64 first_page, const unsigned long *buf,
				     unsigned long i, unsigned long n)
{
	unsigned long *dirty = slot->dirty_bitmap + first_page / BITS_PER_LONG;
	u64 start = 0, end = 0, s;
	unsigned long m;

	for (; i < n; i++) {
		m = buf[i] & READ_ONCE(dirty[i]);
		if (!m)
			continue;
		s = first_page + i * BITS_PER_LONG + __ffs(m);
		if (end && s - end >= KVM_SPLIT_PRESPLIT_GAP) {
			kvm_arch_clear_dirty_log_presplit(kvm, slot, start, end);
			end = 0;
		}
		if (!end)
			start = s;
		end = first_page + i * BITS_PER_LONG + __fls(m) + 1;
	}
	if (end)
		kvm_arch_clear_dirty_log_presplit(kvm, slot, start, end);
}

/* Words [*@i, *@n) of the user's bitmap for the chunk at @offset. */
static u64 kvm_split_chunk_words(u64 first_page, u64 offset, u64 end,
				 u64 chunk, unsigned long *i, unsigned long *n)
{
	u64 cend = min(end, round_down(offset + chunk, chunk));

	*i = (offset - first_page) / BITS_PER_LONG;
	*n = DIV_ROUND_UP(cend - first_page, BITS_PER_LONG);
	return cend;
}

/*
 * The chunked body of kvm_clear_dirty_log_protect(): @buf holds the user's
 * bitmap for pages [@first_page, @first_page + @num_pages) of @slot, already
 * validated by upstream.  Returns true if a TLB flush of the memslot is
 * needed (the caller does it, as upstream).
 *
 * Write-locked (upstream's way, one hold per chunk): each chunk is
 * presplit, then its bits cleared and its pages re-armed under the write
 * lock.
 *
 * Read-locked (kvm_split_clear_shared_begin()), in two passes: each chunk
 * is presplit (under the read lock) and its bits cleared; then the drain;
 * then each chunk's pages are write-protected under the read lock.  Why the
 * drain: a vCPU fault sets a page's dirty bit before it installs the
 * writable SPTE, both under the read lock (x86: make_spte() calls
 * mark_page_dirty_in_slot(), then tdp_mmu_set_spte_atomic() installs).  A
 * clear that cleared the bit and walked the SPTEs inside that window would
 * find nothing to write-protect, and the fault would then install a
 * writable SPTE over a clean bit: a lost write.  Upstream's clear cannot
 * enter the window: it holds the write lock.  Every fault whose mark we
 * cleared held the read lock when it marked; write_lock() returns only once
 * all readers of the moment have unlocked, and their read_unlock()
 * (release) pairs with our write_lock() (acquire): after the drain their
 * SPTEs are in place for the walk to write-protect.  A fault that marks
 * after our clear leaves its bit set.  One drain serves the whole call, as
 * every bit is cleared before it and every page re-armed after it; a page
 * written between its clear and its re-arm is written before the ioctl
 * returns, so it is in the copy userspace takes after, as with upstream's
 * single hold.  selftests/clear_dirty_log_race_test.c holds the fault's
 * window open for milliseconds and checks that no page is lost.
 *
 * Locking: kvm->slots_lock held; mmu_lock taken per chunk (for read to
 * split, for write to clear and re-arm, or for read to re-arm) and once
 * for the drain, never held across chunks.
 */
bool kvm_split_clear_dirty_log_chunked(struct kvm *kvm,
				       struct kvm_memory_slot *slot,
				       u64 first_page, u64 num_pages,
				       unsigned long *buf, u64 chunk)
{
	u64 offset, end = first_page + num_pages, chunks = 0, t0;
	bool presplit, shared, flush = false, rearm = false;
	unsigned long i, n;

	lockdep_assert_held(&kvm->slots_lock);
	presplit = kvm_arch_clear_dirty_log_presplit_ok(kvm);
	shared = kvm_split_clear_shared_begin(kvm);

	for (offset = first_page; offset < end; chunks++) {
		u64 cend = kvm_split_chunk_words(first_page, offset, end,
						 chunk, &i, &n);

		if (presplit)
			kvm_split_presplit_words(kvm, slot, first_page, buf,
						 i, n);
		if (shared) {
			rearm |= kvm_split_clear_bits(slot, first_page, buf,
						      i, n);
		} else {
			t0 = ktime_get_ns();
			KVM_MMU_LOCK(kvm);
			flush |= kvm_split_clear_words(kvm, slot, first_page,
						       buf, i, n);
			KVM_MMU_UNLOCK(kvm);
			kvm_split_note_hold(kvm, ktime_get_ns() - t0);
		}
		offset = cend;
		cond_resched();
	}
	atomic64_add(chunks, (atomic64_t *)&kvm->stat.generic.clear_dirty_chunks);
	if (!rearm)
		return flush;

	/*
	 * From here on every cleared bit must be re-armed: no early exit
	 * (signal, error) may ever be added between the two passes.
	 */
	kvm_split_drain_readers(kvm);
	for (offset = first_page; offset < end;) {
		u64 cend = kvm_split_chunk_words(first_page, offset, end,
						 chunk, &i, &n);

		if (memchr_inv(buf + i, 0, (n - i) * sizeof(*buf))) {
			kvm_split_rearm_shared(kvm, slot, first_page, buf,
					       i, n);
			cond_resched();
		}
		offset = cend;
	}
	/* Flush whenever bits were cleared, as upstream. */
	return true;
}
