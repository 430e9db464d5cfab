// SPDX-License-Identifier: GPL-2.0
/*
 * split_huge_pages_nested_test: KVM_SPLIT_HUGE_PAGES with a nested guest.
 *
 * L1 runs L2 under SVM without nested paging, so KVM maps L2's accesses
 * through a TDP MMU root of its own (role.guest_mode) next to L1's.  L1
 * and then L2 fill a 1 GiB slot backed by one 1 GiB hugetlb page, which
 * gives one 1G mapping in each root.  The test proves that one
 * KVM_SPLIT_HUGE_PAGES call splits both roots down to 4K (the ioctl's
 * count and the stats agree), and that L1 and L2 then still read their
 * data, each through its own split mappings.
 *
 * The same setup with the slot capped at 2M (KVM_MEM_MAX_PAGE_2M) proves
 * the memslot page-size cap holds for L2's mappings too: L2's faults map
 * the slot with 2M pages, never 1G, lowering the cap to 4K on the live
 * slot splits both roots in place, and raising it back to 2M recovers
 * both roots' 2M mappings in place.
 *
 * Last, dirty logging with manual protect, initially-set and the in-kernel
 * clear chunk: a chunked KVM_CLEAR_DIRTY_LOG splits and write-protects both
 * roots, so every page L1 or L2 writes afterwards is reported dirty.
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
#define TEST_SIZE	(1ULL << 30)
#define TEST_PAGES	(TEST_SIZE / PAGE_SIZE)

/* Generation the next pass writes, set by the host; 0 is fresh memory. */
static uint64_t guest_gen;

/* Check every page holds the previous generation, write the next one. */
static void guest_pass(void)
{
	uint64_t gen = READ_ONCE(guest_gen), i;

	for (i = 0; i < TEST_PAGES; i++) {
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

/* Alternate: a pass by L1 itself, then a pass by L2. */
static void l1_guest_code(struct svm_test_data *svm)
{
	ks_generic_svm_setup(svm, l2_guest_code, &l2_stack[L2_STACK_SIZE]);

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

/* One pass by guest @level (1 or 2) writing generation @gen. */
static void run_pass(int level, uint64_t gen)
{
	struct ucall uc;

	guest_gen = gen;
	sync_global_to_guest(vm, guest_gen);
	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], level);
	ks_check_pattern(vm, TEST_GPA, TEST_PAGES, gen);
}

static void create_vm(uint32_t flags)
{
	vm_vaddr_t svm_gva;

	vm = __vm_create_with_one_vcpu(&vcpu, TEST_PAGES, l1_guest_code);
	if (flags)
		vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
			      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB,
				    TEST_GPA, TEST_SLOT, TEST_PAGES, flags);
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);
}

static void test_split(void)
{
	uint64_t p4k, p1g, s2m, s1g;

	create_vm(0);

	/* L1 and L2 each map the slot with one 1G page in their own root. */
	p1g = vm_get_stat(vm, "pages_1g");
	run_pass(1, 1);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_1g") - p1g, 1);
	run_pass(2, 2);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_1g") - p1g, 2);

	p4k = vm_get_stat(vm, "pages_4k");
	p1g = vm_get_stat(vm, "pages_1g");
	s2m = vm_get_stat(vm, "split_huge_2m");
	s1g = vm_get_stat(vm, "split_huge_1g");
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, TEST_PAGES, 4096),
		       2 * (1 + 512));
	TEST_ASSERT_EQ(p1g - vm_get_stat(vm, "pages_1g"), 2);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_4k") - p4k, 2 * TEST_PAGES);
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_1g") - s1g, 2);
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_2m") - s2m, 2 * 512);
	pr_info("L1 and L2 roots: 2 x 1G split to 4K by one call\n");

	/* Both still see their data, through their own split mappings. */
	run_pass(1, 3);
	run_pass(2, 4);
	pr_info("L1 and L2 data intact after the split\n");

	kvm_vm_free(vm);
}

static void test_cap(void)
{
	uint64_t p4k, p2m, p1g;

	create_vm(KVM_MEM_MAX_PAGE_2M);

	/* 1G backing, but each root maps the slot with 512 2M pages. */
	p1g = vm_get_stat(vm, "pages_1g");
	p2m = vm_get_stat(vm, "pages_2m");
	run_pass(1, 1);
	run_pass(2, 2);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_1g"), p1g);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m") - p2m, 2 * 512);
	pr_info("cap 2M: L1 and L2 map the 1G-backed slot with 2 x 512 2M pages\n");

	/* Lowering the cap splits both roots in place, before it returns. */
	p4k = vm_get_stat(vm, "pages_4k");
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m"), p2m);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_4k") - p4k, 2 * TEST_PAGES);

	/* L2 and L1 keep their data and fault nothing huge back in. */
	run_pass(1, 3);
	run_pass(2, 4);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m"), p2m);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_1g"), p1g);
	pr_info("cap 4K: both roots split in place, data intact, nothing huge after\n");

	/* Raising it back recovers both roots' 2M mappings in place. */
	p4k = vm_get_stat(vm, "pages_4k");
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_2M);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m") - p2m, 2 * 512);
	TEST_ASSERT_EQ(p4k - vm_get_stat(vm, "pages_4k"), 2 * TEST_PAGES);
	run_pass(1, 5);
	run_pass(2, 6);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m") - p2m, 2 * 512);
	pr_info("cap 2M again: both roots recovered in place, data intact\n");

	kvm_vm_free(vm);
}

/* Every bit of the slot's dirty log is @set. */
static void assert_log(unsigned long *bmap, bool set)
{
	uint64_t i;

	kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
	for (i = 0; i < TEST_PAGES; i++)
		TEST_ASSERT(test_bit(i, bmap) == set,
			    "page %lu is %sreported dirty", i, set ? "not " : "");
}

static void test_dirty_log_chunked(void)
{
	unsigned long *bmap = bitmap_zalloc(TEST_PAGES);
	uint64_t s1g, s2m, chunks;
	int level;

	TEST_ASSERT(bmap, "out of memory");
	create_vm(0);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, 4096);
	run_pass(1, 1);
	run_pass(2, 2);
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);

	s1g = vm_get_stat(vm, "split_huge_1g");
	s2m = vm_get_stat(vm, "split_huge_2m");
	for (level = 1; level <= 2; level++) {
		/* Clear everything fetched, in 16 MiB chunks. */
		chunks = vm_get_stat(vm, "clear_dirty_chunks");
		assert_log(bmap, true);
		kvm_vm_clear_dirty_log(vm, TEST_SLOT, bmap, 0, TEST_PAGES);
		TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_chunks") - chunks,
			       TEST_PAGES / 4096);
		assert_log(bmap, false);

		/* Each page this guest writes must be logged again. */
		run_pass(level, 2 + level);
		assert_log(bmap, true);
	}
	/* The first clear split both roots' 1G pages, under the read lock. */
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_1g") - s1g, 2);
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_2m") - s2m, 2 * 512);
	pr_info("chunked clear: both roots split and write-protected, every L1 and L2 write logged\n");

	kvm_vm_free(vm);
	free(bmap);
}

int main(int argc, char *argv[])
{
	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded, or no TDP MMU)");
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));

	/* Keep the rest of the VM on 4K pages, see split_huge_pages_test. */
	TEST_ASSERT(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");

	test_split();
	__TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) ==
		       (KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K),
		       "KVM_CAP_MEMSLOT_PAGE_SIZES not supported");
	test_cap();
	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
		       "KVM_CAP_CLEAR_DIRTY_LOG_CHUNK not supported");
	test_dirty_log_chunked();
	return 0;
}
