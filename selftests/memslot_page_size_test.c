// SPDX-License-Identifier: GPL-2.0
/*
 * memslot_page_size_test: the KVM_MEM_MAX_PAGE_2M / KVM_MEM_MAX_PAGE_4K
 * memslot flags of kvm-split.
 *
 * A 1 GiB slot backed by a 1 GiB hugetlb page, which KVM maps with one 1G
 * NPT/EPT entry when nothing caps it (and 256 MiB slots backed by 2M
 * hugetlb pages and by THP).  The test asserts from the VM's page stats
 * that:
 *  - a slot created with a cap is never mapped larger than the cap, by
 *    vCPU faults or by KVM_PRE_FAULT_MEMORY;
 *  - lowering the cap on a live slot splits the existing mappings in place
 *    before the ioctl returns (pages_2m/pages_4k move, split_huge_* count),
 *    while a vCPU keeps writing and checking its data;
 *  - raising the cap on a fully mapped slot brings the huge mappings back
 *    in place before the ioctl returns (2M, then 1G), while a vCPU keeps
 *    writing and checking its data: no zap, no re-fault;
 *  - so does raising it after dirty logging stopped with its log cleared
 *    in part (every other page write-protected, as a migration cancelled
 *    half way leaves it): the huge mapping is rebuilt write-protected and
 *    the guest's writes make it writable in place;
 *  - a capped slot stays capped across enabling and disabling dirty logging;
 *  - bad flags are rejected with EINVAL and change nothing, and a VM that
 *    did not enable the flags (KVM_ENABLE_CAP) sees upstream's uAPI;
 *  - narrowing the enabled flags fails with EBUSY and changes nothing
 *    while a slot uses a dropped one (the slot stays updatable), works once
 *    no slot does, and widening always works.
 */
/* fallocate(), aligned_alloc(): 6.1's selftests build without _GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define TEST_SIZE	(1ULL << 30)
#define TEST_PAGES	(TEST_SIZE / 4096)

/* Value the guest keeps in page @idx after pass @pass (0: never written). */
static inline uint64_t val(uint64_t pass, uint64_t idx)
{
	return pass ? pass << 32 | idx : 0;
}

/*
 * Each pass checks every page still holds the previous pass's value and
 * writes the next one, so a lost or misplaced write is caught by the guest.
 */
static void guest_code(uint64_t npages)
{
	uint64_t pass, i;

	for (pass = 1;; pass++) {
		for (i = 0; i < npages; i++) {
			uint64_t *p = (uint64_t *)(TEST_GPA + i * 4096);

			GUEST_ASSERT_EQ(*p, val(pass - 1, i));
			*p = val(pass, i);
		}
		GUEST_SYNC(pass);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;

static void run_pass(void)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
}

struct stats {
	uint64_t p4k, p2m, p1g, s2m, s1g;
};

static struct stats base;

static struct stats get_stats(void)
{
	struct stats s = {
		.p4k = vm_get_stat(vm, "pages_4k"),
		.p2m = vm_get_stat(vm, "pages_2m"),
		.p1g = vm_get_stat(vm, "pages_1g"),
		.s2m = vm_get_stat(vm, "split_huge_2m"),
		.s1g = vm_get_stat(vm, "split_huge_1g"),
	};

	return s;
}

/* Mappings of the test slot: the stats less those of the rest of the VM. */
static void assert_mapped(uint64_t n4k, uint64_t n2m, uint64_t n1g)
{
	struct stats s = get_stats();

	TEST_ASSERT(s.p4k - base.p4k == n4k && s.p2m - base.p2m == n2m &&
		    s.p1g - base.p1g == n1g,
		    "test slot mapped with %lu 4K, %lu 2M, %lu 1G; expected %lu, %lu, %lu",
		    s.p4k - base.p4k, s.p2m - base.p2m, s.p1g - base.p1g,
		    n4k, n2m, n1g);
}

static void set_flags(uint32_t flags)
{
	vm_mem_region_set_flags(vm, TEST_SLOT, flags);
}

static int try_set_flags(uint32_t flags, uint64_t gpa)
{
	struct userspace_mem_region *r = memslot2region(vm, TEST_SLOT);

	return __vm_set_user_memory_region(vm, TEST_SLOT, flags, gpa, TEST_SIZE,
					   r->host_mem);
}

static void __create_vm(uint32_t flags, enum vm_mem_backing_src_type src,
			uint64_t npages)
{
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	/* Map the rest of the VM first, so the stats' baseline holds. */
	vcpu_args_set(vcpu, 1, 0);
	run_pass();
	base = get_stats();

	vm_userspace_mem_region_add(vm, src, TEST_GPA, TEST_SLOT, npages, flags);
	/*
	 * One 1G guest mapping whatever the slot's size (the guest touches
	 * only the slot): it needs no new guest page table, whose 4K mapping
	 * would show in the stats.
	 */
	virt_map_level(vm, TEST_GPA, TEST_GPA, TEST_SIZE, PG_LEVEL_1G);
	/* Restart the guest at the top, now over the test slot. */
	vcpu_arch_set_entry_point(vcpu, guest_code);
	vcpu_args_set(vcpu, 1, npages);
}

/* The 1 GiB slot on one 1 GiB hugetlb page most tests use. */
static void create_vm(uint32_t flags)
{
	__create_vm(flags, VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, TEST_PAGES);
}

static void test_create_capped(void)
{
	create_vm(KVM_MEM_MAX_PAGE_2M);
	run_pass();
	assert_mapped(0, 512, 0);
	kvm_vm_free(vm);

	create_vm(KVM_MEM_MAX_PAGE_4K);
	run_pass();
	assert_mapped(TEST_PAGES, 0, 0);
	kvm_vm_free(vm);
	pr_info("create: slot capped at 2M and 4K mapped at most that size\n");
}

/* Map the whole slot with KVM_PRE_FAULT_MEMORY, as a VMM may at boot. */
static void prefault(void)
{
	struct kvm_pre_fault_memory range = {
		.gpa = TEST_GPA,
		.size = TEST_SIZE,
	};
	int r;

	do {
		r = __vcpu_ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &range);
	} while (r && (errno == EINTR || errno == EAGAIN));
	TEST_ASSERT(!r && !range.size, "KVM_PRE_FAULT_MEMORY: %s",
		    strerror(errno));
}

/* KVM_PRE_FAULT_MEMORY maps no larger than the cap either. */
static void test_prefault(void)
{
	if (!ks_pre_fault_memory()) {
		pr_info("prefault: SKIP: no KVM_PRE_FAULT_MEMORY to test\n");
		return;
	}

	create_vm(KVM_MEM_MAX_PAGE_2M);
	prefault();
	assert_mapped(0, 512, 0);
	run_pass();
	assert_mapped(0, 512, 0);
	kvm_vm_free(vm);

	create_vm(KVM_MEM_MAX_PAGE_4K);
	prefault();
	assert_mapped(TEST_PAGES, 0, 0);
	kvm_vm_free(vm);

	create_vm(0);
	prefault();
	assert_mapped(0, 0, 1);
	kvm_vm_free(vm);
	pr_info("prefault: KVM_PRE_FAULT_MEMORY maps at most the cap (2M, 4K; 1G uncapped)\n");
}

static bool stop_vcpu;
static uint64_t passes;

static void *vcpu_thread(void *arg)
{
	while (!READ_ONCE(stop_vcpu)) {
		run_pass();
		passes++;
	}
	return NULL;
}

static void test_lower_and_raise(void)
{
	struct stats before;
	pthread_t thread;

	create_vm(0);
	run_pass();
	assert_mapped(0, 0, 1);

	/* Lower the cap twice while the vCPU keeps writing and checking. */
	before = get_stats();
	WRITE_ONCE(stop_vcpu, false);
	pthread_create(&thread, NULL, vcpu_thread, NULL);
	set_flags(KVM_MEM_MAX_PAGE_2M);
	assert_mapped(0, 512, 0);
	set_flags(KVM_MEM_MAX_PAGE_4K);
	assert_mapped(TEST_PAGES, 0, 0);
	WRITE_ONCE(stop_vcpu, true);
	pthread_join(thread, NULL);
	TEST_ASSERT(get_stats().s1g - before.s1g == 1 &&
		    get_stats().s2m - before.s2m == 512,
		    "split_huge_1g/2m did not count the splits");
	run_pass();
	assert_mapped(TEST_PAGES, 0, 0);
	pr_info("lower: split in place, no zap (%lu guest passes ran meanwhile)\n",
		passes);

	/*
	 * Raise the cap while the vCPU keeps writing and checking: every 4K
	 * page is mapped, so the huge mappings come back in place, before
	 * the ioctl returns, 2M first and then 1G out of 2M; no re-fault.
	 */
	passes = 0;
	WRITE_ONCE(stop_vcpu, false);
	pthread_create(&thread, NULL, vcpu_thread, NULL);
	set_flags(KVM_MEM_MAX_PAGE_2M);
	assert_mapped(0, 512, 0);
	set_flags(0);
	assert_mapped(0, 0, 1);
	WRITE_ONCE(stop_vcpu, true);
	pthread_join(thread, NULL);
	run_pass();
	assert_mapped(0, 0, 1);
	pr_info("raise: recovered in place, 4K -> 2M -> 1G, no zap (%lu guest passes ran meanwhile)\n",
		passes);
	kvm_vm_free(vm);
}

/*
 * QEMU's order on a cancelled migration: the slot capped at 4K with dirty
 * logging on, the log cleared for some pages only (KVM write-protects
 * those), logging turned off, then the cap raised.  The 4K entries under
 * each 2M then differ in their writable bit; the rebuild must not mind.
 * With Intel's PML the clear clears dirty bits instead, every entry stays
 * writable and the case holds trivially (untested at runtime here).
 */
static void test_raise_after_partial_clear(void)
{
	uint64_t *bitmap = calloc(TEST_PAGES / 64, sizeof(*bitmap));
	uint64_t i;

	TEST_ASSERT(bitmap, "calloc");
	create_vm(0);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
	run_pass();
	assert_mapped(0, 0, 1);

	set_flags(KVM_MEM_MAX_PAGE_4K | KVM_MEM_LOG_DIRTY_PAGES);
	assert_mapped(TEST_PAGES, 0, 0);
	run_pass();
	kvm_vm_get_dirty_log(vm, TEST_SLOT, bitmap);
	for (i = 0; i < TEST_PAGES / 64; i++)
		TEST_ASSERT(bitmap[i] == ~0ULL,
			    "pages %lu to %lu not all logged dirty: 0x%lx",
			    i * 64, i * 64 + 63, bitmap[i]);
	/* Write-protect every other page again. */
	memset(bitmap, 0x55, TEST_PAGES / 8);
	kvm_vm_clear_dirty_log(vm, TEST_SLOT, bitmap, 0, TEST_PAGES);

	set_flags(KVM_MEM_MAX_PAGE_4K);
	assert_mapped(TEST_PAGES, 0, 0);
	set_flags(0);
	assert_mapped(0, 0, 1);
	run_pass();
	assert_mapped(0, 0, 1);
	free(bitmap);
	kvm_vm_free(vm);
	pr_info("raise after a partly cleared dirty log: rebuilt in place, 4K -> 1G\n");
}

static void test_dirty_logging(void)
{
	create_vm(KVM_MEM_MAX_PAGE_2M);
	run_pass();
	assert_mapped(0, 512, 0);

	set_flags(KVM_MEM_MAX_PAGE_2M | KVM_MEM_LOG_DIRTY_PAGES);
	run_pass();
	/* Dirty logging maps 4K; disabling it collapses only up to 2M. */
	set_flags(KVM_MEM_MAX_PAGE_2M);
	run_pass();
	assert_mapped(0, 512, 0);

	/* Lower the cap and start logging in one update. */
	set_flags(KVM_MEM_MAX_PAGE_4K | KVM_MEM_LOG_DIRTY_PAGES);
	assert_mapped(TEST_PAGES, 0, 0);
	set_flags(KVM_MEM_MAX_PAGE_4K);
	run_pass();
	assert_mapped(TEST_PAGES, 0, 0);
	pr_info("dirty logging: cap holds across enable and disable\n");
	kvm_vm_free(vm);
}

/*
 * The same cap changes on a 256 MiB slot backed by 2M hugetlb pages or by
 * THP: lowering to 4K splits every 2M mapping in place; raising the cap
 * back recovers in place exactly the 2M mappings the host backs with a huge
 * page (all of them with hugetlb; with THP, those the host got huge).
 */
static void test_backing(enum vm_mem_backing_src_type src)
{
	uint64_t npages = (256ULL << 20) / 4096, huge;
	const char *name = vm_mem_backing_src_alias(src)->name;
	struct stats s;

	__create_vm(0, src, npages);
	/*
	 * KVM's own faults got no THP from this kernel: back the slot with
	 * huge pages from userspace first, as a VMM that preallocates does.
	 */
	if (src == VM_MEM_SRC_ANONYMOUS_THP)
		memset(addr_gpa2hva(vm, TEST_GPA), 0, npages * 4096);
	run_pass();
	s = get_stats();
	huge = s.p2m - base.p2m;
	if (src == VM_MEM_SRC_ANONYMOUS_HUGETLB)
		TEST_ASSERT_EQ(huge, npages / 512);
	TEST_ASSERT(huge, "%s: nothing mapped with 2M pages", name);
	assert_mapped(npages - huge * 512, huge, 0);

	set_flags(KVM_MEM_MAX_PAGE_4K);
	assert_mapped(npages, 0, 0);
	run_pass();
	assert_mapped(npages, 0, 0);

	set_flags(0);
	assert_mapped(npages - huge * 512, huge, 0);
	run_pass();
	assert_mapped(npages - huge * 512, huge, 0);
	pr_info("%s: %lu 2M mappings split to 4K and recovered in place\n",
		name, huge);
	kvm_vm_free(vm);
}

/* A VM that did not enable the flags sees upstream's uAPI. */
static void test_not_enabled(void)
{
	struct kvm_vm *vm2 = vm_create_barebones();
	void *mem = aligned_alloc(4096, 4096);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MEMSLOT_PAGE_SIZES };
	int r;

	r = __vm_set_user_memory_region(vm2, 0, KVM_MEM_MAX_PAGE_2M, 0, 4096, mem);
	TEST_ASSERT(r == -1 && errno == EINVAL, "flag accepted without KVM_ENABLE_CAP");

	cap.args[0] = 1u << 13;
	r = __vm_ioctl(vm2, KVM_ENABLE_CAP, &cap);
	TEST_ASSERT(r == -1 && errno == EINVAL, "enabled an unknown flag");
	cap.args[0] = KVM_MEM_MAX_PAGE_4K;
	cap.flags = 1;
	r = __vm_ioctl(vm2, KVM_ENABLE_CAP, &cap);
	TEST_ASSERT(r == -1 && errno == EINVAL, "enable cap took flags");
	cap.flags = 0;
	cap.args[1] = 1;
	r = __vm_ioctl(vm2, KVM_ENABLE_CAP, &cap);
	TEST_ASSERT(r == -1 && errno == EINVAL, "enable cap took args[1]");

	/* Enabling one flag does not accept the other. */
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, KVM_MEM_MAX_PAGE_4K);
	r = __vm_set_user_memory_region(vm2, 0, KVM_MEM_MAX_PAGE_2M, 0, 4096, mem);
	TEST_ASSERT(r == -1 && errno == EINVAL, "2M flag accepted with only 4K enabled");
	r = __vm_set_user_memory_region(vm2, 0, KVM_MEM_MAX_PAGE_4K, 0, 4096, mem);
	TEST_ASSERT(!r, "4K flag refused after enabling it: errno %d", errno);
	kvm_vm_free(vm2);
	free(mem);
	pr_info("not enabled: EINVAL as upstream; enable cap validates its args\n");
}

/*
 * Narrowing the set of enabled flags (a second KVM_ENABLE_CAP with fewer)
 * fails with EBUSY and changes nothing while a slot, in any address space,
 * uses a flag it drops: the slot could no longer be updated at all (every
 * update passes its flags).  Once the slots dropped the flag it works, and
 * widening always works.
 */
static void test_narrow(void)
{
	const uint32_t both = KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K;
	const uint32_t smm_slot = 1U << 16 | 3;
	struct kvm_vm *vm2 = vm_create_barebones();
	int r;

#define NARROW_EBUSY(set, what)						\
do {									\
	r = __vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, set);	\
	TEST_ASSERT(r == -1 && errno == EBUSY,				\
		    "narrowing to %#x %s: %d errno %d, expected EBUSY",	\
		    (uint32_t)(set), what, r, errno);			\
} while (0)

	TEST_ASSERT(kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE) > 1,
		    "no second address space (SMM) to test");
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, both);
	vm_userspace_mem_region_add(vm2, VM_MEM_SRC_ANONYMOUS, TEST_GPA, 1, 16,
				    KVM_MEM_MAX_PAGE_2M);

	/* A slot uses 2M: dropping it fails, and changes nothing. */
	NARROW_EBUSY(KVM_MEM_MAX_PAGE_4K, "with a 2M slot");
	NARROW_EBUSY(0, "with a 2M slot");
	vm_mem_region_set_flags(vm2, 1, KVM_MEM_MAX_PAGE_2M | KVM_MEM_LOG_DIRTY_PAGES);
	vm_mem_region_set_flags(vm2, 1, KVM_MEM_MAX_PAGE_2M);
	vm_userspace_mem_region_add(vm2, VM_MEM_SRC_ANONYMOUS, TEST_GPA + TEST_SIZE,
				    2, 16, KVM_MEM_MAX_PAGE_2M);
	vm_mem_region_delete(vm2, 2);

	/* Keeping what is used is not narrowing it away: 2M alone is fine. */
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, KVM_MEM_MAX_PAGE_2M);
	r = __vm_set_user_memory_region(vm2, 1, KVM_MEM_MAX_PAGE_4K, TEST_GPA,
					16 * 4096,
					memslot2region(vm2, 1)->host_mem);
	TEST_ASSERT(r == -1 && errno == EINVAL, "4K accepted after narrowing to 2M");

	/* Widening always works, whatever the slots use. */
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, both);

	/* The slot drops 2M (takes 4K): narrowing to 4K works now. */
	vm_mem_region_set_flags(vm2, 1, KVM_MEM_MAX_PAGE_4K);
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, KVM_MEM_MAX_PAGE_4K);
	r = __vm_set_user_memory_region(vm2, 1, KVM_MEM_MAX_PAGE_2M, TEST_GPA,
					16 * 4096,
					memslot2region(vm2, 1)->host_mem);
	TEST_ASSERT(r == -1 && errno == EINVAL, "2M accepted after narrowing to 4K");
	vm_mem_region_set_flags(vm2, 1, KVM_MEM_MAX_PAGE_4K | KVM_MEM_LOG_DIRTY_PAGES);
	vm_mem_region_set_flags(vm2, 1, KVM_MEM_MAX_PAGE_4K);
	NARROW_EBUSY(0, "with a 4K slot");
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, both);

	/* A slot in address space 1 (SMM) counts too. */
	vm_mem_region_set_flags(vm2, 1, 0);
	vm_userspace_mem_region_add(vm2, VM_MEM_SRC_ANONYMOUS,
				    TEST_GPA + 2 * TEST_SIZE, smm_slot, 16,
				    KVM_MEM_MAX_PAGE_4K);
	NARROW_EBUSY(KVM_MEM_MAX_PAGE_2M, "with a 4K slot in address space 1");
	vm_mem_region_set_flags(vm2, smm_slot, KVM_MEM_MAX_PAGE_4K | KVM_MEM_LOG_DIRTY_PAGES);
	vm_mem_region_set_flags(vm2, smm_slot, 0);
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, KVM_MEM_MAX_PAGE_2M);
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, 0);
	vm_enable_cap(vm2, KVM_CAP_MEMSLOT_PAGE_SIZES, both);
#undef NARROW_EBUSY
	kvm_vm_free(vm2);
	pr_info("narrow: EBUSY while a slot (either address space) uses a dropped flag, the slot still updatable; works once dropped; widening always works\n");
}

static void test_bad_input(void)
{
	struct stats before, after;
	int r;

	TEST_ASSERT(kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) ==
		    (KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K),
		    "KVM_CAP_MEMSLOT_PAGE_SIZES on /dev/kvm");

	create_vm(0);
	TEST_ASSERT(vm_check_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES) ==
		    (KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K),
		    "KVM_CAP_MEMSLOT_PAGE_SIZES on the VM");
	run_pass();
	before = get_stats();

	r = try_set_flags(KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K, TEST_GPA);
	TEST_ASSERT(r == -1 && errno == EINVAL, "both caps: %d errno %d", r, errno);
	r = try_set_flags(KVM_MEM_MAX_PAGE_2M, TEST_GPA + TEST_SIZE);
	TEST_ASSERT(r == -1 && errno == EINVAL, "cap with move: %d errno %d", r, errno);
	r = try_set_flags(1u << 13, TEST_GPA);
	TEST_ASSERT(r == -1 && errno == EINVAL, "unknown flag: %d errno %d", r, errno);

	/* A new slot with both caps is refused too. */
	r = __vm_set_user_memory_region(vm, TEST_SLOT + 1,
					KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K,
					TEST_GPA + TEST_SIZE, 4096,
					memslot2region(vm, TEST_SLOT)->host_mem);
	TEST_ASSERT(r == -1 && errno == EINVAL, "create with both caps: %d errno %d",
		    r, errno);

	after = get_stats();
	TEST_ASSERT(!memcmp(&before, &after, sizeof(before)),
		    "a rejected update changed the mappings");
	run_pass();
	assert_mapped(0, 0, 1);
	pr_info("bad input: EINVAL, slot unchanged\n");
	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES));

	test_not_enabled();
	test_narrow();
	test_bad_input();
	test_create_capped();
	test_prefault();
	test_lower_and_raise();
	test_backing(VM_MEM_SRC_ANONYMOUS_HUGETLB);
	test_backing(VM_MEM_SRC_ANONYMOUS_THP);
	test_dirty_logging();
	test_raise_after_partial_clear();
	return 0;
}
