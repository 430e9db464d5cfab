// SPDX-License-Identifier: GPL-2.0
/*
 * memslot_page_size_nx_test: the memslot page-size cap and the NX huge page
 * mitigation (kvm.nx_huge_pages=1, set by tests.list).
 *
 * With the mitigation on, KVM maps huge pages non-executable; a guest that
 * executes from one faults, and KVM maps that part with 4K pages
 * (nx_lpage_splits counts them).  Lowering a slot's cap to 4K splits its
 * huge pages into executable 4K entries; raising it recovers the huge
 * mappings in place, and those must be non-executable again, or the guest
 * could execute from a huge page the mitigation forbids:
 *
 * 1. The guest reads two 2M pages: two 2M mappings, no NX split.
 * 2. The cap goes to 4K (no 2M mapping), then back up: both 2M mappings
 *    are recovered in place.
 * 3. The guest calls into each 2M page: each call must fault and be mapped
 *    at 4K (nx_lpage_splits 1, then 2; pages_2m 1, then 0).
 * 4. The NX recovery worker zaps those 4K tables; a read maps 2M again, as
 *    far as the cap allows: with the cap at 4K, no 2M mapping comes back.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kvm_util.h"
#include "processor.h"
#include "kvm_split_util.h"

#define TEST_SLOT	10
#define TEST_GPA	(4ULL << 30)
#define TEST_PAGES	(2 * 512ULL)
#define PAGE_2M		(512 * 4096ULL)
#define RET_OPCODE	0xc3

static void guest_call(uint64_t gva)
{
	((void (*)(void))gva)();
}

static void guest_code(void)
{
	READ_ONCE(*(uint64_t *)TEST_GPA);
	READ_ONCE(*(uint64_t *)(TEST_GPA + PAGE_2M));
	GUEST_SYNC(1);
	guest_call(TEST_GPA);
	GUEST_SYNC(2);
	guest_call(TEST_GPA + PAGE_2M);
	GUEST_SYNC(3);
	READ_ONCE(*(uint64_t *)TEST_GPA);
	READ_ONCE(*(uint64_t *)(TEST_GPA + PAGE_2M));
	GUEST_SYNC(4);
	GUEST_DONE();
}

static void run_to(struct kvm_vcpu *vcpu, uint64_t stage)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], stage);
}

static void check(struct kvm_vm *vm, const char *when, uint64_t pages_2m,
		  uint64_t nx_splits)
{
	uint64_t p2m = vm_get_stat(vm, "pages_2m");
	uint64_t nx = vm_get_stat(vm, "nx_lpage_splits");

	TEST_ASSERT(p2m == pages_2m && nx == nx_splits,
		    "%s: pages_2m %lu, nx_lpage_splits %lu; expected %lu, %lu",
		    when, p2m, nx, pages_2m, nx_splits);
	pr_info("%s: pages_2m %lu, nx_lpage_splits %lu\n", when, p2m, nx);
}

int main(void)
{
	uint64_t period_ms, ratio;
	struct kvm_vcpu *vcpu;
	int i;
	struct kvm_vm *vm;
	struct timespec ts;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MEMSLOT_PAGE_SIZES));
	__TEST_REQUIRE(get_kvm_param_bool("nx_huge_pages"),
		       "the NX huge page mitigation is off (kvm.nx_huge_pages)");
	__TEST_REQUIRE(get_kvm_param_bool("tdp_mmu"), "needs the TDP MMU");
	period_ms = get_kvm_param_integer("nx_huge_pages_recovery_period_ms");
	ratio = get_kvm_param_integer("nx_huge_pages_recovery_ratio");

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
	/* 4K guest mappings: KVM may still map 2M on its side. */
	virt_map_level(vm, TEST_GPA, TEST_GPA, TEST_PAGES * 4096, PG_LEVEL_4K);
	memset(addr_gpa2hva(vm, TEST_GPA), RET_OPCODE, TEST_PAGES * 4096);

	run_to(vcpu, 1);
	check(vm, "read", 2, 0);

	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	check(vm, "cap 4K", 0, 0);
	vm_mem_region_set_flags(vm, TEST_SLOT, 0);
	check(vm, "cap raised, recovered in place", 2, 0);

	run_to(vcpu, 2);
	check(vm, "executed from the first 2M page", 1, 1);
	run_to(vcpu, 3);
	check(vm, "executed from the second 2M page", 0, 2);

	/*
	 * The recovery worker zaps ratio-th of the NX split tables each
	 * period (all of them with ratio 1); with the cap at 4K the reads
	 * after it map 4K only.
	 */
	if (ratio == 1 && period_ms && period_ms <= 1000) {
		vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
		ts.tv_sec = period_ms / 1000;
		ts.tv_nsec = period_ms % 1000 * 1000000;
		/* Wait for the worker, 100 periods at most. */
		for (i = 0; i < 100 && vm_get_stat(vm, "nx_lpage_splits"); i++)
			nanosleep(&ts, NULL);
		TEST_ASSERT_EQ(vm_get_stat(vm, "nx_lpage_splits"), 0);
		run_to(vcpu, 4);
		check(vm, "re-faulted after NX recovery, cap 4K", 0, 0);
		TEST_ASSERT_EQ(vm_get_stat(vm, "pages_1g"), 0);
	} else {
		pr_info("NX recovery not checked (ratio %lu, period %lu ms)\n",
			ratio, period_ms);
	}
	kvm_vm_free(vm);
	return 0;
}
