// SPDX-License-Identifier: GPL-2.0
/*
 * split_demo: a short, readable tour of kvm-split (run by "make demo").
 *
 * A guest with a 1 GiB slot backed by a 1 GiB hugetlb page touches its
 * memory; the VMM then splits the slot with KVM_SPLIT_HUGE_PAGES, first to
 * 2M and then to 4K, in 128 MiB slices as a migration thread would, and
 * prints the VM's page stats and progress; last it caps the slot at 2M
 * with KVM_MEM_MAX_PAGE_2M, lifts the cap and sets it again on the live
 * 1G mapping.  The guest checks its data after every step.
 */
#include <time.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define SLOT	1
#define GPA	(4ULL << 30)
#define SIZE	(1ULL << 30)
#define PAGES	(SIZE / 4096)
#define SLICE	(128ULL << 20 >> 12)

static void guest_code(void)
{
	uint64_t pass, i;

	for (pass = 1;; pass++) {
		for (i = 0; i < PAGES; i++) {
			uint64_t *p = (uint64_t *)(GPA + i * 4096);

			GUEST_ASSERT_EQ(*p, pass == 1 ? 0 : (pass - 1) << 32 | i);
			*p = pass << 32 | i;
		}
		GUEST_SYNC(pass);
	}
}

static void run(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
}

static void show(struct kvm_vm *vm, const char *what)
{
	printf("  %-44s pages_1g=%-4lu pages_2m=%-5lu pages_4k=%-7lu\n", what,
	       vm_get_stat(vm, "pages_1g"), vm_get_stat(vm, "pages_2m"),
	       vm_get_stat(vm, "pages_4k"));
}

static void split(struct kvm_vm *vm, uint64_t page_size)
{
	struct kvm_split_huge_pages s = {
		.slot = SLOT, .num_pages = PAGES, .page_size = page_size,
	};
	struct timespec t0, t1;

	printf("KVM_SPLIT_HUGE_PAGES to %s in 128 MiB slices:\n",
	       page_size == 4096 ? "4K" : "2M");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s.num_pages) {
		uint64_t before = s.first_page;
		uint64_t left = s.num_pages;

		/*
		 * One slice per call, as a migration thread would pace it.
		 * A call may return early with progress (a signal, as
		 * KVM_PRE_FAULT_MEMORY): the next one starts where it stopped.
		 */
		s.num_pages = left > SLICE ? SLICE : left;
		vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &s);
		s.num_pages = left - (s.first_page - before);
		printf("  pages %6llu..%6llu done, %6llu left, %4llu mappings split so far\n",
		       (unsigned long long)before, s.first_page, s.num_pages, s.split);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("  %llu huge mappings split in %.1f ms (emulated CPU)\n", s.split,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

int main(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES));
	printf("kvm-split capabilities: SPLIT_HUGE_PAGES sizes 0x%x, MEMSLOT_PAGE_SIZES flags 0x%x\n",
	       kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES),
	       kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES));

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES, KVM_MEM_MAX_PAGE_2M);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, GPA,
				    SLOT, PAGES, 0);
	virt_map_level(vm, GPA, GPA, SIZE, PG_LEVEL_1G);

	show(vm, "before the guest runs:");
	run(vcpu);
	show(vm, "guest wrote 1 GiB (1G hugetlb backing):");

	split(vm, 2 << 20);
	show(vm, "after the split to 2M:");
	split(vm, 4096);
	show(vm, "after the split to 4K:");
	run(vcpu);
	show(vm, "guest checked and rewrote its data:");

	printf("memslot page-size cap (KVM_SET_USER_MEMORY_REGION flags):\n");
	vm_mem_region_set_flags(vm, SLOT, KVM_MEM_MAX_PAGE_2M);
	run(vcpu);
	show(vm, "KVM_MEM_MAX_PAGE_2M: 4K mappings stay small:");
	vm_mem_region_set_flags(vm, SLOT, 0);
	show(vm, "cap lifted: recovered in place as 1G:");
	run(vcpu);
	vm_mem_region_set_flags(vm, SLOT, KVM_MEM_MAX_PAGE_2M);
	show(vm, "KVM_MEM_MAX_PAGE_2M on a live 1G: split:");
	run(vcpu);
	show(vm, "guest ran again:");
	printf("guest data verified after every step\n");

	kvm_vm_free(vm);
	return 0;
}
