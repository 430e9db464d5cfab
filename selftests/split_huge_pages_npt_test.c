// SPDX-License-Identifier: GPL-2.0
/*
 * split_huge_pages_npt_test: kvm-split on the shadow MMU, with L2 running
 * on nested NPT.
 *
 * L1 runs L2 under SVM with nested paging: the test builds an NPT table
 * set in L1's memory that identity-maps the default slot with 2M entries
 * and the test slot with 1G or 2M entries (the U bit set at every level,
 * as NPT walks are user accesses).  KVM then maps L2's accesses through
 * the shadow MMU (indirect shadow pages for L1's NPT, rmaps), with huge
 * SPTEs where L1's NPT and the host backing allow, while L1 itself stays
 * on the TDP MMU.  Each pass checks the previous generation in every page
 * of the test slot and writes the next one, by L1 or by L2.
 *
 * Shadow pages are counted by the mmu_cache_miss statistic, which only the
 * shadow MMU moves (each new shadow page, and so each split of a shadow
 * huge SPTE, is one); the page stats count SPTEs of both MMUs.  The test
 * proves that:
 *
 *  - KVM_SPLIT_HUGE_PAGES splits L2's shadow huge SPTEs along with L1's
 *    TDP ones (1G -> 2M, then 2M -> 4K), and L1 and L2 still read their
 *    data; the ioctl's count and split_huge_* cover the TDP MMU only;
 *  - lowering the slot's page-size cap leaves no mapping above the cap in
 *    either MMU when the ioctl returns, split in place; with the VM's
 *    shadow page budget (KVM_SET_NR_MMU_PAGES) too small for the split,
 *    the shadow huge SPTEs the split had to leave are zapped instead
 *    (kvm_split_zap_shadow_huge()); raising the cap maps L2 huge again;
 *  - the chunked KVM_CLEAR_DIRTY_LOG, which falls back to write-locked
 *    chunks once shadow pages exist, splits L2's mappings and logs every
 *    page L2 (and L1) writes afterwards.
 *
 * With -f split or -f cap (debug kernel, selftests/debug.list) it sweeps
 * allocation failures (fail-nth, see ks_fail_nth_open()) over the shadow
 * MMU's split path instead, see fi_split() and fi_lower_cap().  Each
 * case needs a fresh VM, so a sweep takes minutes there: one per run.
 */
#include <sys/prctl.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)

#define SZ_4K		(1ULL << 12)
#define SZ_2M		(1ULL << 21)
#define SZ_1G		(1ULL << 30)

/* NPT entries: the x86-64 long-mode format, U set at every level. */
#define NPT_PRESENT	BIT_ULL(0)
#define NPT_WRITABLE	BIT_ULL(1)
#define NPT_USER	BIT_ULL(2)
#define NPT_HUGE	BIT_ULL(7)
#define NPT_TABLE	(NPT_PRESENT | NPT_WRITABLE | NPT_USER)

/* Counts the zaps of kvm_split_zap_shadow_huge() (no delay). */
#define ZAP_SYM		"kvm_zap_gfn_range"
#define ZAP_PROBE	ZAP_SYM ":0"

/* What the next pass covers and writes, set by the host. */
static uint64_t guest_gen, guest_pages;

/* Check every page holds the previous generation, write the next one. */
static void guest_pass(void)
{
	uint64_t gen = READ_ONCE(guest_gen), i;

	for (i = 0; i < READ_ONCE(guest_pages); i++) {
		uint64_t *p = (uint64_t *)(TEST_GPA + i * PAGE_SIZE);

		GUEST_ASSERT_EQ(*p, ks_pattern(gen - 1, i));
		*p = ks_pattern(gen, i);
	}
}

static void l2_guest_code(void)
{
	for (;;) {
		guest_pass();
		vmmcall();
	}
}

#define L2_STACK_SIZE	1024
static unsigned long l2_stack[L2_STACK_SIZE];

/* Alternate: a pass by L1 itself, then a pass by L2 on nested NPT. */
static void l1_guest_code(struct svm_test_data *svm, uint64_t npt)
{
	ks_generic_svm_setup(svm, l2_guest_code, &l2_stack[L2_STACK_SIZE]);
	ks_vmcb_enable_np(&svm->vmcb->control);
	svm->vmcb->control.nested_cr3 = npt;

	for (;;) {
		guest_pass();
		GUEST_SYNC(1);

		run_guest(svm->vmcb, svm->vmcb_gpa);
		GUEST_ASSERT_EQ(svm->vmcb->control.exit_code, SVM_EXIT_VMMCALL);
		svm->vmcb->save.rip += 3;	/* skip VMMCALL */
		GUEST_SYNC(2);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static uint64_t test_pages;
static bool quiet;

/* A zeroed page of L1's memory for an NPT table; returns its GPA. */
static uint64_t npt_alloc_table(void)
{
	uint64_t gpa = vm_phy_page_alloc(vm, KVM_GUEST_PAGE_TABLE_MIN_PADDR, 0);

	memset(addr_gpa2hva(vm, gpa), 0, vm->page_size);
	return gpa;
}

/*
 * Identity-map [@gpa, @gpa + @size) in the NPT rooted at @root with
 * leaves of @leaf bytes (4K, 2M or 1G), as a guest hypervisor would.
 */
static void npt_map(uint64_t root, uint64_t gpa, uint64_t size, uint64_t leaf)
{
	uint64_t addr;

	for (addr = gpa; addr < gpa + size; addr += leaf) {
		uint64_t *table = addr_gpa2hva(vm, root);
		int shift;

		for (shift = 39; ; shift -= 9) {
			uint64_t *e = &table[(addr >> shift) & 511];

			if (1ULL << shift == leaf) {
				*e = addr | NPT_TABLE | (leaf > SZ_4K ? NPT_HUGE : 0);
				break;
			}
			if (!(*e & NPT_PRESENT))
				*e = npt_alloc_table() | NPT_TABLE;
			table = addr_gpa2hva(vm, *e & PHYSICAL_PAGE_MASK);
		}
	}
}

/*
 * A VM whose test slot is @size bytes of @src with @flags; L2's NPT maps
 * it with @leaf entries.
 */
static void create_vm(enum vm_mem_backing_src_type src, uint64_t size,
		      uint32_t flags, uint64_t leaf)
{
	vm_vaddr_t svm_gva;
	uint64_t npt;

	test_pages = size / SZ_4K;
	vm = __vm_create_with_one_vcpu(&vcpu, test_pages, l1_guest_code);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	vcpu_alloc_svm(vm, &svm_gva);
	vm_userspace_mem_region_add(vm, src, TEST_GPA, TEST_SLOT, test_pages,
				    flags);
	virt_map(vm, TEST_GPA, TEST_GPA, test_pages);

	/* The default slot (code, stacks, page tables, ucall) and the test slot. */
	TEST_ASSERT(memslot2region(vm, 0)->region.memory_size <= SZ_1G,
		    "the default slot does not fit the NPT's first 1G");
	npt = npt_alloc_table();
	npt_map(npt, 0, SZ_1G, SZ_2M);
	npt_map(npt, TEST_GPA, size, leaf);
	vcpu_args_set(vcpu, 2, svm_gva, npt);
}

/* One pass by guest @level (1 or 2) writing generation @gen. */
static void run_pass(int level, uint64_t gen)
{
	struct ucall uc;

	guest_gen = gen;
	guest_pages = test_pages;
	sync_global_to_guest(vm, guest_gen);
	sync_global_to_guest(vm, guest_pages);
	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], level);
	ks_check_pattern(vm, TEST_GPA, test_pages, gen);
}

struct stats {
	int64_t p4k, p2m, p1g, split_2m, split_1g, shadow_pages;
};

static struct stats get_stats(void)
{
	return (struct stats){
		.p4k = vm_get_stat(vm, "pages_4k"),
		.p2m = vm_get_stat(vm, "pages_2m"),
		.p1g = vm_get_stat(vm, "pages_1g"),
		.split_2m = vm_get_stat(vm, "split_huge_2m"),
		.split_1g = vm_get_stat(vm, "split_huge_1g"),
		.shadow_pages = vm_get_stat(vm, "mmu_cache_miss"),
	};
}

/* The stats moved by exactly @d since @old. */
static void assert_delta(const char *what, const struct stats *old,
			 struct stats d)
{
	struct stats s = get_stats();

	TEST_ASSERT(s.p4k - old->p4k == d.p4k && s.p2m - old->p2m == d.p2m &&
		    s.p1g - old->p1g == d.p1g &&
		    s.split_2m - old->split_2m == d.split_2m &&
		    s.split_1g - old->split_1g == d.split_1g &&
		    s.shadow_pages - old->shadow_pages == d.shadow_pages,
		    "%s: 4k %+ld 2m %+ld 1g %+ld split_huge_2m %+ld split_huge_1g %+ld shadow pages %+ld; expected %+ld %+ld %+ld %+ld %+ld %+ld",
		    what, s.p4k - old->p4k, s.p2m - old->p2m, s.p1g - old->p1g,
		    s.split_2m - old->split_2m, s.split_1g - old->split_1g,
		    s.shadow_pages - old->shadow_pages, d.p4k, d.p2m, d.p1g,
		    d.split_2m, d.split_1g, d.shadow_pages);
}

/*
 * L1 and L2 map the test slot huge: L1 through the TDP MMU, L2 through
 * the shadow MMU (new shadow pages).  Only the test slot's huge mappings
 * are counted: the default slot is on 4K pages (no THP).
 */
static void map_both(uint64_t l1_1g, uint64_t l1_2m, uint64_t l2_1g,
		     uint64_t l2_2m)
{
	struct stats s = get_stats();

	run_pass(1, 1);
	TEST_ASSERT(get_stats().p1g - s.p1g == l1_1g &&
		    get_stats().p2m - s.p2m == l1_2m &&
		    get_stats().shadow_pages == s.shadow_pages,
		    "L1 mapped 1g %+ld 2m %+ld, shadow pages %+ld",
		    get_stats().p1g - s.p1g, get_stats().p2m - s.p2m,
		    get_stats().shadow_pages - s.shadow_pages);
	s = get_stats();
	run_pass(2, 2);
	TEST_ASSERT(get_stats().p1g - s.p1g == l2_1g &&
		    get_stats().p2m - s.p2m == l2_2m &&
		    get_stats().shadow_pages > s.shadow_pages,
		    "L2 mapped 1g %+ld 2m %+ld, shadow pages %+ld",
		    get_stats().p1g - s.p1g, get_stats().p2m - s.p2m,
		    get_stats().shadow_pages - s.shadow_pages);
	if (!quiet)
		pr_info("L1 (TDP MMU) maps the slot with %lu 1G + %lu 2M, L2 (shadow MMU, %ld shadow pages) with %lu 1G + %lu 2M\n",
			l1_1g, l1_2m, get_stats().shadow_pages, l2_1g, l2_2m);
}

/*
 * KVM_SPLIT_HUGE_PAGES of a 1G-backed slot that L2's NPT maps with one 1G
 * entry: to 2M, then to 4K.  Each shadow split makes one shadow page.
 */
static void test_split(void)
{
	const int64_t n = SZ_1G / SZ_2M;
	struct stats s;

	create_vm(VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, SZ_1G, 0, SZ_1G);
	map_both(1, 0, 1, 0);

	s = get_stats();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, test_pages, SZ_2M), 1);
	assert_delta("split to 2M", &s, (struct stats){
		.p1g = -2, .p2m = 2 * n, .split_1g = 1, .shadow_pages = 1 });
	pr_info("split to 2M: 2 x 1G -> 2 x 512 2M (shadow MMU: 1 split), ioctl count 1 (TDP MMU only)\n");

	s = get_stats();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, test_pages, SZ_4K), n);
	assert_delta("split to 4K", &s, (struct stats){
		.p2m = -2 * n, .p4k = 2 * test_pages, .split_2m = n,
		.shadow_pages = n });
	pr_info("split to 4K: 2 x 512 2M -> 4K (shadow MMU: 512 splits), ioctl count %ld (TDP MMU only)\n",
		n);

	/* Both still see their data, through their split mappings only. */
	s = get_stats();
	run_pass(1, 3);
	run_pass(2, 4);
	assert_delta("passes after the split", &s, (struct stats){});
	pr_info("L1 and L2 data intact after the split, nothing faulted\n");

	kvm_vm_free(vm);
}

static void test_cap(void)
{
	const int64_t n = SZ_1G / SZ_2M;
	struct stats s;

	create_vm(VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, SZ_1G, 0, SZ_1G);
	map_both(1, 0, 1, 0);

	/* Each lowering splits both MMUs in place before it returns. */
	s = get_stats();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_2M);
	assert_delta("cap 2M", &s, (struct stats){
		.p1g = -2, .p2m = 2 * n, .split_1g = 1, .shadow_pages = 1 });
	s = get_stats();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	assert_delta("cap 4K", &s, (struct stats){
		.p2m = -2 * n, .p4k = 2 * test_pages, .split_2m = n,
		.shadow_pages = n });
	pr_info("cap 2M then 4K: both MMUs split in place (shadow MMU: 1 + 512 splits), nothing above the cap\n");

	s = get_stats();
	run_pass(1, 3);
	run_pass(2, 4);
	assert_delta("passes under the 4K cap", &s, (struct stats){});

	/*
	 * Raising the cap recovers L1's 2M mappings in place and zaps L2's
	 * collapsible ones (upstream's zap); L2's next pass faults them in
	 * with 2M SPTEs, into the shadow page that the split to 2M made.
	 */
	s = get_stats();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_2M);
	assert_delta("cap 2M again", &s, (struct stats){
		.p2m = n, .p4k = -2 * test_pages });
	run_pass(1, 5);
	run_pass(2, 6);
	assert_delta("passes under the 2M cap", &s, (struct stats){
		.p2m = 2 * n, .p4k = -2 * test_pages });
	pr_info("cap 2M again: L1 recovered in place, L2 zapped and faulted back with 512 2M, data intact\n");

	kvm_vm_free(vm);
}

/*
 * A shadow page budget too small for the split: the shadow MMU's split
 * stops with -ENOSPC once the VM is near its KVM_SET_NR_MMU_PAGES limit
 * and leaves the rest of L2's 2M SPTEs huge.  KVM_SPLIT_HUGE_PAGES still
 * returns 0 (the shadow part is best effort, as upstream's eager split);
 * lowering the cap must zap what is left, so that nothing is above the cap
 * when the ioctl returns.
 */
static void test_cap_budget(void)
{
	const uint64_t size = 128ULL << 20, n = size / SZ_2M;
	struct stats s, t;
	uint64_t split, left, zaps;

	create_vm(VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB, size, 0, SZ_2M);
	TEST_ASSERT(!ioctl(vm->fd, KVM_SET_NR_MMU_PAGES, 64UL),
		    "KVM_SET_NR_MMU_PAGES: %s", strerror(errno));
	map_both(0, n, 0, n);

	/* The split ioctl: all of L1's, part of L2's. */
	s = get_stats();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, test_pages, SZ_4K), n);
	t = get_stats();
	split = t.shadow_pages - s.shadow_pages;
	left = n - split;
	TEST_ASSERT(split && left, "shadow MMU split %lu of %lu", split, n);
	assert_delta("split within the budget", &s, (struct stats){
		.p2m = -(n + split), .p4k = (n + split) * 512, .split_2m = n,
		.shadow_pages = split });
	pr_info("split with 64 MMU pages: L1 %lu 2M split; L2 %lu split, %lu left 2M (-ENOSPC, best effort); the ioctl returned 0\n",
		n, split, left);

	/*
	 * Lowering the cap: nothing left above it, L2's rest zapped, one
	 * kvm_zap_gfn_range() per 2M SPTE left (counted by the delay module,
	 * with no delay).
	 */
	ks_delay_load(ZAP_PROBE);
	zaps = ks_delay_count(ZAP_SYM);
	s = get_stats();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	t = get_stats();
	zaps = ks_delay_count(ZAP_SYM) - zaps;
	ks_delay_unload();
	TEST_ASSERT(t.p2m == 0 && t.p1g == 0 && t.p2m == s.p2m - (int64_t)left,
		    "2M mappings above a 4K cap: %ld (%ld before)", t.p2m, s.p2m);
	TEST_ASSERT_EQ(t.shadow_pages, s.shadow_pages);
	TEST_ASSERT_EQ(zaps, left);
	pr_info("cap 4K: the %lu 2M shadow SPTEs the split could not split zapped (%lu zaps), none left above the cap\n",
		left, zaps);

	/* L2 faults its zapped pages back with 4K SPTEs; L1 too. */
	run_pass(1, 3);
	run_pass(2, 4);
	t = get_stats();
	TEST_ASSERT(t.p2m == 0 && t.p1g == 0, "huge mappings under a 4K cap: 2m %ld 1g %ld",
		    t.p2m, t.p1g);
	pr_info("L1 and L2 data intact, faulted back under the cap with 4K pages\n");

	kvm_vm_free(vm);
}

/* Every bit of the slot's dirty log is @set. */
static void assert_log(unsigned long *bmap, bool set)
{
	uint64_t i;

	kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
	for (i = 0; i < test_pages; i++)
		TEST_ASSERT(test_bit(i, bmap) == set,
			    "page %lu is %sreported dirty", i, set ? "not " : "");
}

static void test_dirty_log_chunked(void)
{
	const int64_t chunk = 4096, n = SZ_1G / SZ_2M;
	unsigned long *bmap;
	struct stats s;
	uint64_t chunks, shared;
	int level;

	create_vm(VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, SZ_1G, 0, SZ_1G);
	bmap = bitmap_zalloc(test_pages);
	TEST_ASSERT(bmap, "out of memory");
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, chunk);
	map_both(1, 0, 1, 0);
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);

	s = get_stats();
	shared = vm_get_stat(vm, "clear_dirty_shared_chunks");
	for (level = 1; level <= 2; level++) {
		/* Clear everything fetched, in 16 MiB chunks. */
		chunks = vm_get_stat(vm, "clear_dirty_chunks");
		assert_log(bmap, true);
		kvm_vm_clear_dirty_log(vm, TEST_SLOT, bmap, 0, test_pages);
		TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_chunks") - chunks,
			       test_pages / chunk);
		assert_log(bmap, false);
		if (level == 1)
			assert_delta("first chunked clear", &s, (struct stats){
				.p1g = -2, .p4k = 2 * test_pages, .split_1g = 1,
				.split_2m = n, .shadow_pages = 1 + n });

		/* Each page this guest writes must be logged again. */
		run_pass(level, 2 + level);
		assert_log(bmap, true);
	}
	/* Shadow pages exist: every chunk took the write-locked path. */
	TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_shared_chunks"), shared);
	pr_info("chunked clear: both MMUs split (shadow MMU: 513 splits), %ld write-locked chunks per clear, every L1 and L2 write logged\n",
		test_pages / chunk);

	kvm_vm_free(vm);
	free(bmap);
}

/*
 * Fault injection (-f).  The shadow MMU refills its split caches
 * (kvm->arch.split_*_cache: rmap descriptors, page headers, page tables,
 * KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE = 40 each) only when one is empty, and
 * keeps them for the VM's life.  So each case makes a fresh VM whose L1
 * and L2 map FI_WARM + FI_HUGE 2M pages, and splits the first FI_WARM
 * first, unarmed: that fills the caches once and empties the header and
 * page caches again.  The armed call on the last FI_HUGE pages then
 * refills them: failing each of those allocations in turn, then the TDP
 * MMU's own.  The page stats cover both MMUs; shadow splits are counted by
 * mmu_cache_miss, as above.
 */
#define FI_WARM		40
#define FI_HUGE		4
#define FI_FIRST	(FI_WARM * 512ULL)
#define FI_MAX_NTH	400

static void fi_create(void)
{
	struct stats s;

	create_vm(VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB,
		  (FI_WARM + FI_HUGE) * SZ_2M, 0, SZ_2M);
	map_both(0, FI_WARM + FI_HUGE, 0, FI_WARM + FI_HUGE);
	s = get_stats();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, FI_FIRST, SZ_4K), FI_WARM);
	assert_delta("warm-up split", &s, (struct stats){
		.p2m = -2 * FI_WARM, .p4k = 2 * FI_FIRST, .split_2m = FI_WARM,
		.shadow_pages = FI_WARM });
}

/* L1 and L2 read back what they wrote, and write again. */
static void fi_check_data(void)
{
	run_pass(1, 3);
	run_pass(2, 4);
}

/*
 * KVM_SPLIT_HUGE_PAGES of the last FI_HUGE 2M pages, each allocation
 * failing in turn.  The shadow MMU's walk runs first and is best effort:
 * a failed refill leaves that one 2M SPTE huge (the next one refills
 * again) and is not reported; the TDP MMU's walk then reports -ENOMEM
 * with the range unchanged and split_huge_failed + 1, as documented.  A
 * repeat splits what is left in both.
 */
static void fi_split(int fd)
{
	int n, shadow_failed = 0, tdp_failed = 0, tolerated = 0;

	for (n = 1; n <= FI_MAX_NTH; n++) {
		struct kvm_split_huge_pages args = {
			.slot = TEST_SLOT, .first_page = FI_FIRST,
			.num_pages = FI_HUGE * 512, .page_size = SZ_4K,
		};
		uint64_t failed;
		int64_t shadow, k;
		struct stats s;
		bool injected;
		int r;

		fi_create();
		s = get_stats();
		failed = vm_get_stat(vm, "split_huge_failed");
		ks_fail_nth_arm(fd, n);
		r = ioctl(vm->fd, KVM_SPLIT_HUGE_PAGES, &args) ? -errno : 0;
		injected = ks_fail_nth_disarm(fd);
		shadow = get_stats().shadow_pages - s.shadow_pages;
		k = args.split;

		if (r) {
			TEST_ASSERT(injected && r == -ENOMEM,
				    "nth %d: KVM_SPLIT_HUGE_PAGES failed with %d", n, r);
			TEST_ASSERT(args.first_page == FI_FIRST &&
				    args.num_pages == FI_HUGE * 512 &&
				    k < FI_HUGE && shadow == FI_HUGE,
				    "nth %d: -ENOMEM at %llu+%llu, TDP MMU split %ld, shadow MMU %ld",
				    n, args.first_page, args.num_pages, k, shadow);
			TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_failed"), failed + 1);
			tdp_failed++;
		} else {
			TEST_ASSERT(args.num_pages == 0 && k == FI_HUGE,
				    "nth %d: returned 0 with %llu pages left, %ld split",
				    n, args.num_pages, k);
			TEST_ASSERT(shadow == FI_HUGE ||
				    (injected && shadow == FI_HUGE - 1),
				    "nth %d: the shadow MMU split %ld of %d", n,
				    shadow, FI_HUGE);
			TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_failed"), failed);
			shadow_failed += shadow < FI_HUGE;
			tolerated += injected && shadow == FI_HUGE;
		}
		assert_delta("armed split", &s, (struct stats){
			.p2m = -(k + shadow), .p4k = (k + shadow) * 512,
			.split_2m = k, .shadow_pages = shadow });

		/* A repeat splits the rest of both; nothing 2M is left. */
		TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, FI_FIRST, FI_HUGE * 512,
					SZ_4K), FI_HUGE - k);
		assert_delta("repeat", &s, (struct stats){
			.p2m = -2 * FI_HUGE, .p4k = 2 * FI_HUGE * 512,
			.split_2m = FI_HUGE, .shadow_pages = FI_HUGE });
		fi_check_data();
		assert_delta("passes", &s, (struct stats){
			.p2m = -2 * FI_HUGE, .p4k = 2 * FI_HUGE * 512,
			.split_2m = FI_HUGE, .shadow_pages = FI_HUGE });
		kvm_vm_free(vm);
		if (!injected)
			break;
	}
	TEST_ASSERT(n <= FI_MAX_NTH, "more than %d allocations", FI_MAX_NTH);
	TEST_ASSERT(shadow_failed && tdp_failed,
		    "a path was not reached: shadow MMU failures %d, TDP MMU -ENOMEM %d",
		    shadow_failed, tdp_failed);
	pr_info("split: %d allocations failed in turn: %d left one L2 2M SPTE huge (0 returned, best effort), %d -ENOMEM from the TDP MMU (range unchanged), %d tolerated; every repeat split the rest, data intact\n",
		n - 1, shadow_failed, tdp_failed, tolerated);
}

static int set_flags(uint32_t flags)
{
	struct userspace_mem_region *region = memslot2region(vm, TEST_SLOT);

	return __vm_set_user_memory_region(vm, TEST_SLOT, flags, TEST_GPA,
					   test_pages * SZ_4K,
					   region->host_mem) ? -errno : 0;
}

/*
 * Lowering the cap to 4K, each allocation failing in turn: either the
 * memslot update fails with -ENOMEM and nothing changes, or it returns 0
 * with no 2M mapping left in either MMU: split whole; or a shadow MMU
 * refill failed and kvm_split_zap_shadow_huge() zapped the SPTE it left
 * (one kvm_zap_gfn_range(), counted by the delay module); or the TDP
 * MMU's split failed and the whole slot was zapped (one zap too).
 */
static void fi_lower_cap(int fd)
{
	int n, enomem = 0, whole = 0, shadow_zap = 0, slot_zap = 0;

	ks_delay_load(ZAP_PROBE);
	for (n = 1; n <= FI_MAX_NTH; n++) {
		int64_t shadow, k;
		struct stats s, t;
		uint64_t zaps;
		bool injected;
		int r;

		fi_create();
		s = get_stats();
		zaps = ks_delay_count(ZAP_SYM);
		ks_fail_nth_arm(fd, n);
		r = set_flags(KVM_MEM_MAX_PAGE_4K);
		injected = ks_fail_nth_disarm(fd);
		t = get_stats();
		zaps = ks_delay_count(ZAP_SYM) - zaps;
		shadow = t.shadow_pages - s.shadow_pages;
		k = t.split_2m - s.split_2m;

		if (r) {
			TEST_ASSERT(injected && r == -ENOMEM,
				    "nth %d: lowering the cap failed with %d", n, r);
			assert_delta("failed update", &s, (struct stats){});
			TEST_ASSERT_EQ(zaps, 0);
			fi_check_data();
			assert_delta("passes, not capped", &s, (struct stats){});
			enomem++;
			kvm_vm_free(vm);
			continue;
		}
		/* The cap holds when the ioctl returns. */
		TEST_ASSERT(t.p2m == 0 && t.p1g == 0,
			    "nth %d: 2M %ld, 1G %ld mappings above a 4K cap",
			    n, t.p2m, t.p1g);
		if (k < FI_HUGE) {
			TEST_ASSERT(injected && shadow == FI_HUGE && zaps == 1,
				    "nth %d: TDP MMU split %ld, shadow MMU %ld, %lu zaps",
				    n, k, shadow, zaps);
			slot_zap++;
		} else if (shadow < FI_HUGE) {
			TEST_ASSERT(injected && shadow == FI_HUGE - 1 && zaps == 1,
				    "nth %d: shadow MMU split %ld, %lu zaps", n,
				    shadow, zaps);
			shadow_zap++;
		} else {
			TEST_ASSERT(shadow == FI_HUGE && zaps == 0 &&
				    t.p4k - s.p4k == 2 * FI_HUGE * 512,
				    "nth %d: split whole, but 4k %+ld, %lu zaps",
				    n, t.p4k - s.p4k, zaps);
			whole++;
		}
		fi_check_data();
		t = get_stats();
		TEST_ASSERT(t.p2m == 0 && t.p1g == 0,
			    "nth %d: faulted back above the cap: 2M %ld, 1G %ld",
			    n, t.p2m, t.p1g);
		kvm_vm_free(vm);
		if (!injected)
			break;
	}
	ks_delay_unload();
	TEST_ASSERT(n <= FI_MAX_NTH, "more than %d allocations", FI_MAX_NTH);
	TEST_ASSERT(enomem && shadow_zap && slot_zap,
		    "a path was not reached: -ENOMEM %d, shadow zap %d, slot zap %d",
		    enomem, shadow_zap, slot_zap);
	pr_info("lower the cap to 4K: %d allocations failed in turn: %d -ENOMEM (unchanged), %d shadow SPTE left by the split and zapped, %d slot zaps after a TDP MMU failure, %d whole splits; no 2M mapping left after any success, data intact\n",
		n - 1, enomem, shadow_zap, slot_zap, whole);
}

int main(int argc, char *argv[])
{
	const char *fault_injection = NULL;
	int opt, fd;

	while ((opt = getopt(argc, argv, "f:")) != -1) {
		switch (opt) {
		case 'f':
			fault_injection = optarg;
			break;
		default:
			printf("usage: %s [-f split|cap]\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(!fault_injection || !strcmp(fault_injection, "split") ||
		    !strcmp(fault_injection, "cap"),
		    "-f %s: not split or cap", fault_injection);
	TEST_ASSERT(kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES) & SZ_4K,
		    "KVM_CAP_SPLIT_HUGE_PAGES missing: not kvm-split's KVM, or no TDP MMU");
	TEST_ASSERT(kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) ==
		    (KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K),
		    "KVM_CAP_MEMSLOT_PAGE_SIZES missing");
	TEST_ASSERT(kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
		    "KVM_CAP_CLEAR_DIRTY_LOG_CHUNK missing");
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_NPT));

	/* Keep the default slot on 4K pages, see split_huge_pages_test. */
	TEST_ASSERT(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");

	if (fault_injection) {
		fd = ks_fail_nth_open();
		quiet = true;
		if (!strcmp(fault_injection, "split"))
			fi_split(fd);
		else
			fi_lower_cap(fd);
		ks_fail_nth_close(fd);
		return 0;
	}
	test_split();
	test_cap();
	test_cap_budget();
	test_dirty_log_chunked();
	return 0;
}
