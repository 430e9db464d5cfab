// SPDX-License-Identifier: GPL-2.0
/*
 * fault_injection_test: allocation failures on every kvm-split path that
 * allocates page tables, with exact outcomes.
 *
 * Needs the debug kernel's fault injection (CONFIG_FAILSLAB,
 * CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS): the test
 * thread writes N to /proc/thread-self/fail-nth, which makes the N-th
 * slab or page allocation of this thread fail (and only it: no other task
 * is affected), then makes one call.  Reading fail-nth back tells whether
 * the failure was injected (0) or the call made fewer than N allocations.
 * Each case sweeps N = 1, 2, ... until a call makes fewer than N
 * allocations, so every allocation of the path fails once, and asserts
 * after every call:
 *
 *  - KVM_SPLIT_HUGE_PAGES, one step (8 MiB, four 2M mappings, 4K target):
 *    -ENOMEM with the arguments unchanged but for split, which equals the
 *    mappings split before the failure (the page stats move by exactly
 *    that), split_huge_failed + 1; a repeat completes with the rest; every
 *    count 0..3 of mappings split before a failure is reached;
 *  - KVM_SPLIT_HUGE_PAGES, two steps (128 MiB, the first already split):
 *    a failure in the second step returns 0 with exactly one step of
 *    progress (first_page and num_pages advanced by 64 MiB), as
 *    KVM_PRE_FAULT_MEMORY, split_huge_failed + 1, and a repeat completes;
 *    or the split tolerated it and completed (at least one must stop it);
 *  - lowering the cap to 4K: either the memslot update fails with -ENOMEM
 *    and nothing changes, or it returns 0 and no 2M mapping is left
 *    (split whole, or zapped after a failed split: the zap fallback must
 *    be reached at least once); the guest's data survives;
 *  - raising the cap: -ENOMEM and the slot stays capped, or 0 and the
 *    guest is mapped with 2M pages again;
 *  - a chunked KVM_CLEAR_DIRTY_LOG whose presplit fails: the clear still
 *    returns 0 (best effort) and no write the guest makes afterwards is
 *    missing from the next KVM_GET_DIRTY_LOG.
 * The guest reads back every page through its mappings after each call.
 * WARNs, lockdep or KASAN reports and leaks are caught by the debug tier
 * itself (console scan, kmemleak_test.sh).
 *
 * On a kernel without fault injection (the Debian kernel) the test
 * SKIPs, naming what is missing; in the debug tier (KS_TIER=debug) that
 * is a failure.
 */
#include <stdlib.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)

#define SZ_4K		(1ULL << 12)
#define SZ_2M		(1ULL << 21)
#define PAGES_PER_2M	(SZ_2M / SZ_4K)
#define STEP_PAGES	((64ULL << 20) / SZ_4K)
#define SMALL_HUGE	4
#define SMALL_PAGES	(SMALL_HUGE * PAGES_PER_2M)
#define BIG_PAGES	(2 * STEP_PAGES)
#define MAX_NTH		200

/* What the guest's next pass does: see guest_code(). */
static uint64_t guest_npages, guest_gen, guest_stride, guest_check;

/*
 * Each pass writes generation guest_gen into every guest_stride-th page;
 * with guest_check, it first checks that every page holds the previous
 * generation (a lost or misplaced mapping is caught through the guest's
 * own translations).
 */
static void guest_code(void)
{
	for (;;) {
		uint64_t gen = READ_ONCE(guest_gen), i;
		uint64_t stride = READ_ONCE(guest_stride);

		for (i = 0; i < READ_ONCE(guest_npages); i++) {
			uint64_t *p = (uint64_t *)(TEST_GPA + i * PAGE_SIZE);

			if (READ_ONCE(guest_check))
				GUEST_ASSERT_EQ(*p, ks_pattern(gen - 1, i));
			if (i % stride == 0)
				*p = ks_pattern(gen, i);
		}
		GUEST_SYNC(gen);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static uint64_t slot_pages;
static int fail_nth_fd = -1;

static void run_guest(uint64_t gen, uint64_t stride, bool check)
{
	struct ucall uc;

	guest_gen = gen;
	guest_stride = stride;
	guest_check = check;
	guest_npages = slot_pages;
	sync_global_to_guest(vm, guest_gen);
	sync_global_to_guest(vm, guest_stride);
	sync_global_to_guest(vm, guest_check);
	sync_global_to_guest(vm, guest_npages);
	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], gen);
}

struct stats {
	uint64_t p4k, p2m, p1g, split_2m, split_failed;
};

static struct stats get_stats(void)
{
	return (struct stats){
		.p4k = vm_get_stat(vm, "pages_4k"),
		.p2m = vm_get_stat(vm, "pages_2m"),
		.p1g = vm_get_stat(vm, "pages_1g"),
		.split_2m = vm_get_stat(vm, "split_huge_2m"),
		.split_failed = vm_get_stat(vm, "split_huge_failed"),
	};
}

static void assert_stats_delta(const struct stats *old, struct stats d)
{
	struct stats s = get_stats();

	TEST_ASSERT(s.p4k - old->p4k == d.p4k && s.p2m - old->p2m == d.p2m &&
		    s.p1g - old->p1g == d.p1g &&
		    s.split_2m - old->split_2m == d.split_2m &&
		    s.split_failed - old->split_failed == d.split_failed,
		    "stats moved by 4k %ld 2m %ld 1g %ld split_2m %ld failed %ld; expected %ld %ld %ld %ld %ld",
		    s.p4k - old->p4k, s.p2m - old->p2m, s.p1g - old->p1g,
		    s.split_2m - old->split_2m,
		    s.split_failed - old->split_failed, d.p4k, d.p2m, d.p1g,
		    d.split_2m, d.split_failed);
}

/*
 * (Re)create the test slot, @npages of 2M hugetlb pages with @flags, and
 * let the guest write generation 1: KVM maps it with 2M entries (4K ones
 * under a 4K cap).
 */
static void fresh_slot(uint64_t npages, uint32_t flags)
{
	static bool created;
	struct stats before, after;
	bool capped = flags & KVM_MEM_MAX_PAGE_4K;

	if (created)
		vm_mem_region_delete(vm, TEST_SLOT);
	created = true;
	slot_pages = npages;
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB,
				    TEST_GPA, TEST_SLOT, npages, flags);
	before = get_stats();
	run_guest(1, 1, false);
	/*
	 * The first touch of a page also faults in the guest page tables
	 * that map it, 4K pages of the default slot: at least the slot's own
	 * 4K pages, exactly its 2M ones.  Later passes fault nothing new.
	 */
	after = get_stats();
	TEST_ASSERT(after.p2m - before.p2m == (capped ? 0 : npages / PAGES_PER_2M) &&
		    after.p4k - before.p4k >= (capped ? npages : 0) &&
		    after.p1g == before.p1g &&
		    after.split_2m == before.split_2m &&
		    after.split_failed == before.split_failed,
		    "a fresh slot of %lu pages mapped 4k +%ld 2m +%ld",
		    npages, after.p4k - before.p4k, after.p2m - before.p2m);
}

static int split_ioctl(struct kvm_split_huge_pages *args)
{
	return ioctl(vm->fd, KVM_SPLIT_HUGE_PAGES, args) ? -errno : 0;
}

static void test_split_one_step(void)
{
	bool seen[SMALL_HUGE] = {};
	int n, enomem = 0, tolerated = 0;
	uint64_t k, last = 0;

	for (n = 1; n <= MAX_NTH; n++) {
		struct kvm_split_huge_pages args = {
			.slot = TEST_SLOT, .num_pages = SMALL_PAGES,
			.page_size = SZ_4K,
		};
		struct stats before;
		bool injected;
		int r;

		fresh_slot(SMALL_PAGES, 0);
		before = get_stats();
		ks_fail_nth_arm(fail_nth_fd, n);
		r = split_ioctl(&args);
		injected = ks_fail_nth_disarm(fail_nth_fd);
		k = args.split;

		if (r) {
			TEST_ASSERT(injected && r == -ENOMEM,
				    "nth %d: KVM_SPLIT_HUGE_PAGES failed with %d", n, r);
			TEST_ASSERT(args.first_page == 0 &&
				    args.num_pages == SMALL_PAGES,
				    "nth %d: -ENOMEM changed the range to %llu+%llu",
				    n, args.first_page, args.num_pages);
			TEST_ASSERT(k < SMALL_HUGE && k >= last,
				    "nth %d: %lu split before the failure (last %lu)",
				    n, k, last);
			assert_stats_delta(&before, (struct stats){
				.p2m = -k, .p4k = k * PAGES_PER_2M,
				.split_2m = k, .split_failed = 1 });
			seen[k] = true;
			last = k;
			enomem++;
		} else {
			/* A failure the path tolerates, or none at all. */
			TEST_ASSERT(args.num_pages == 0 && k == SMALL_HUGE,
				    "nth %d: returned 0 with %llu pages left, %lu split",
				    n, args.num_pages, k);
			assert_stats_delta(&before, (struct stats){
				.p2m = -SMALL_HUGE, .p4k = SMALL_PAGES,
				.split_2m = SMALL_HUGE });
			tolerated += injected;
		}
		/* A repeat completes with the rest. */
		TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, SMALL_PAGES, SZ_4K),
			       SMALL_HUGE - k);
		run_guest(2, 1, true);
		assert_stats_delta(&before, (struct stats){
			.p2m = -SMALL_HUGE, .p4k = SMALL_PAGES,
			.split_2m = SMALL_HUGE, .split_failed = !!r });
		if (!injected)
			break;
	}
	TEST_ASSERT(n <= MAX_NTH, "more than %d allocations", MAX_NTH);
	for (k = 0; k < SMALL_HUGE; k++)
		TEST_ASSERT(seen[k], "no failure after %lu splits was reached", k);
	pr_info("split, one step: %d allocations failed in turn: %d -ENOMEM (0..%d split before), %d tolerated, every repeat completed\n",
		n - 1, enomem, SMALL_HUGE - 1, tolerated);
}

/*
 * The first of the two steps was split beforehand, so every allocation of
 * the call is the second step's.  A failure there either stops the call
 * with one step of progress (0 returned, the range advanced by one step,
 * split_huge_failed + 1), or is one the split tolerates (its GFP_NOWAIT
 * attempt under the lock, retried after dropping it): then the call
 * completes.  The first allocations are swept; at least one must stop the
 * call.
 */
static void test_split_progress(void)
{
	const uint64_t huge = STEP_PAGES / PAGES_PER_2M;
	int n, stopped = 0, tolerated = 0;

	for (n = 1; n <= 6; n++) {
		struct kvm_split_huge_pages args = {
			.slot = TEST_SLOT, .num_pages = BIG_PAGES,
			.page_size = SZ_4K,
		};
		struct stats before;
		bool injected;
		int r;

		fresh_slot(BIG_PAGES, 0);
		/* The first step has nothing left to split: no allocation. */
		TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, STEP_PAGES, SZ_4K),
			       huge);
		before = get_stats();
		ks_fail_nth_arm(fail_nth_fd, n);
		r = split_ioctl(&args);
		injected = ks_fail_nth_disarm(fail_nth_fd);
		TEST_ASSERT(injected, "nth %d: no failure injected", n);
		TEST_ASSERT(r == 0, "nth %d: returned %d after progress", n, r);
		if (args.num_pages == 0) {
			/* Tolerated: the whole second step was split. */
			TEST_ASSERT(args.first_page == BIG_PAGES &&
				    args.split == huge,
				    "nth %d: completed at %llu with %llu split",
				    n, args.first_page, args.split);
			assert_stats_delta(&before, (struct stats){
				.p2m = -huge, .p4k = huge * PAGES_PER_2M,
				.split_2m = huge });
			tolerated++;
			continue;
		}
		TEST_ASSERT(args.first_page == STEP_PAGES &&
			    args.num_pages == STEP_PAGES,
			    "nth %d: progress %llu+%llu, expected one step",
			    n, args.first_page, args.num_pages);
		TEST_ASSERT(args.split < huge, "nth %d: %llu split", n,
			    args.split);
		assert_stats_delta(&before, (struct stats){
			.p2m = -args.split, .p4k = args.split * PAGES_PER_2M,
			.split_2m = args.split, .split_failed = 1 });
		TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, args.first_page,
					args.num_pages, SZ_4K),
			       huge - args.split);
		run_guest(2, 1, true);
		stopped++;
	}
	TEST_ASSERT(stopped, "no allocation failure stopped the second step");
	pr_info("split, two steps: of the first %d allocations of the second step, %d failures stopped it with one step of progress (0 returned), %d were tolerated\n",
		n - 1, stopped, tolerated);
}

static int set_flags(uint32_t flags)
{
	struct userspace_mem_region *region = memslot2region(vm, TEST_SLOT);

	return __vm_set_user_memory_region(vm, TEST_SLOT, flags, TEST_GPA,
					   slot_pages * SZ_4K,
					   region->host_mem) ? -errno : 0;
}

static void test_lower_cap(void)
{
	int n, enomem = 0, zapped = 0, split = 0;

	for (n = 1; n <= MAX_NTH; n++) {
		struct stats before, after;
		bool injected;
		int r;

		fresh_slot(SMALL_PAGES, 0);
		before = get_stats();
		ks_fail_nth_arm(fail_nth_fd, n);
		r = set_flags(KVM_MEM_MAX_PAGE_4K);
		injected = ks_fail_nth_disarm(fail_nth_fd);
		after = get_stats();

		if (r) {
			/* The memslot update itself: nothing changed. */
			TEST_ASSERT(injected && r == -ENOMEM,
				    "nth %d: lowering the cap failed with %d", n, r);
			assert_stats_delta(&before, (struct stats){});
			enomem++;
			run_guest(2, 1, true);
			assert_stats_delta(&before, (struct stats){});
			continue;
		}
		/* The cap holds when the ioctl returns. */
		TEST_ASSERT(after.p2m == before.p2m - SMALL_HUGE &&
			    after.p1g == before.p1g,
			    "nth %d: %ld 2M mappings left above a 4K cap", n,
			    after.p2m - (before.p2m - SMALL_HUGE));
		if (after.split_2m - before.split_2m == SMALL_HUGE) {
			/* Split whole. */
			TEST_ASSERT_EQ(after.p4k - before.p4k, SMALL_PAGES);
			split++;
		} else {
			/* A split failed: the slot was zapped. */
			TEST_ASSERT(injected, "nth %d: partial split, no failure", n);
			TEST_ASSERT_EQ(after.p4k, before.p4k);
			zapped++;
		}
		run_guest(2, 1, true);
		assert_stats_delta(&before, (struct stats){
			.p2m = -SMALL_HUGE, .p4k = SMALL_PAGES,
			.split_2m = after.split_2m - before.split_2m });
		if (!injected)
			break;
	}
	TEST_ASSERT(n <= MAX_NTH, "more than %d allocations", MAX_NTH);
	TEST_ASSERT(enomem && zapped, "-ENOMEM %d, zap fallback %d: a path was not reached",
		    enomem, zapped);
	pr_info("lower the cap to 4K: %d allocations failed in turn: %d -ENOMEM (unchanged), %d zap fallbacks, %d whole splits; no 2M mapping left after any success\n",
		n - 1, enomem, zapped, split);
}

static void test_raise_cap(void)
{
	int n, enomem = 0, ok = 0;

	for (n = 1; n <= MAX_NTH; n++) {
		struct stats before;
		bool injected;
		int r;

		fresh_slot(SMALL_PAGES, KVM_MEM_MAX_PAGE_4K);
		before = get_stats();
		ks_fail_nth_arm(fail_nth_fd, n);
		r = set_flags(0);
		injected = ks_fail_nth_disarm(fail_nth_fd);
		if (r) {
			TEST_ASSERT(injected && r == -ENOMEM,
				    "nth %d: raising the cap failed with %d", n, r);
			run_guest(2, 1, true);
			/* Still capped. */
			assert_stats_delta(&before, (struct stats){});
			enomem++;
			continue;
		}
		run_guest(2, 1, true);
		assert_stats_delta(&before, (struct stats){
			.p2m = SMALL_HUGE, .p4k = -SMALL_PAGES });
		ok += injected;
		if (!injected)
			break;
	}
	TEST_ASSERT(n <= MAX_NTH, "more than %d allocations", MAX_NTH);
	TEST_ASSERT(enomem, "no allocation failure made raising the cap fail");
	pr_info("raise the cap: %d allocations failed in turn: %d -ENOMEM (still capped), %d tolerated; 2M mappings back after every success\n",
		n - 1, enomem, ok);
}

static void test_clear_presplit(void)
{
	unsigned long *bmap = bitmap_zalloc(SMALL_PAGES);
	int n, partial = 0;
	uint64_t i;

	for (n = 1; n <= MAX_NTH; n++) {
		struct kvm_clear_dirty_log clear = {
			.slot = TEST_SLOT, .num_pages = SMALL_PAGES,
			.dirty_bitmap = bmap,
		};
		struct stats before;
		uint64_t missing = 0, extra = 0;
		bool injected;
		int r;

		fresh_slot(SMALL_PAGES, 0);
		/* Initially-all-set: enabling the log leaves 2M mappings. */
		vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
		run_guest(2, 1, true);
		kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
		for (i = 0; i < SMALL_PAGES; i++)
			TEST_ASSERT(test_bit(i, bmap), "page %lu not dirty", i);
		before = get_stats();
		ks_fail_nth_arm(fail_nth_fd, n);
		r = ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &clear) ? -errno : 0;
		injected = ks_fail_nth_disarm(fail_nth_fd);
		TEST_ASSERT(r == 0, "nth %d: chunked KVM_CLEAR_DIRTY_LOG returned %d",
			    n, r);
		if (get_stats().split_2m - before.split_2m < SMALL_HUGE)
			partial++;

		/*
		 * Every other page written, the others not touched (a read
		 * fault may map a page writable and log it): each written
		 * page must be logged, and no other.
		 */
		run_guest(3, 2, false);
		kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
		for (i = 0; i < SMALL_PAGES; i++) {
			if (i % 2 == 0 && !test_bit(i, bmap))
				missing++;
			if (i % 2 && test_bit(i, bmap))
				extra++;
		}
		TEST_ASSERT(!missing, "nth %d: %lu written pages missing from the log",
			    n, missing);
		TEST_ASSERT(!extra, "nth %d: %lu unwritten pages logged", n, extra);
		for (i = 0; i < SMALL_PAGES; i++) {
			uint64_t *p = addr_gpa2hva(vm, TEST_GPA + i * SZ_4K);

			TEST_ASSERT_EQ(*p, ks_pattern(i % 2 ? 2 : 3, i));
		}
		vm_mem_region_set_flags(vm, TEST_SLOT, 0);
		if (!injected)
			break;
	}
	TEST_ASSERT(n <= MAX_NTH, "more than %d allocations", MAX_NTH);
	TEST_ASSERT(partial, "no presplit failed");
	pr_info("chunked clear: %d allocations failed in turn, %d left huge pages to the clear's own split; the clear returned 0 and no write was lost every time\n",
		n - 1, partial);
	free(bmap);
}

int main(int argc, char *argv[])
{
	TEST_ASSERT(kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES) & SZ_4K,
		    "KVM_CAP_SPLIT_HUGE_PAGES missing: not kvm-split's KVM");
	fail_nth_fd = ks_fail_nth_open();

	vm = __vm_create_with_one_vcpu(&vcpu, BIG_PAGES, guest_code);
	virt_map(vm, TEST_GPA, TEST_GPA, BIG_PAGES);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, PAGES_PER_2M);

	test_split_one_step();
	test_split_progress();
	test_lower_cap();
	test_raise_cap();
	test_clear_presplit();

	kvm_vm_free(vm);
	ks_fail_nth_close(fail_nth_fd);
	return 0;
}
