// SPDX-License-Identifier: GPL-2.0
/*
 * split_huge_pages_slot_change_test: KVM_SPLIT_HUGE_PAGES whose memslot is
 * changed by another thread between two of its steps.
 *
 * A 256 MiB slot backed by 2M hugetlb pages is mapped by
 * KVM_PRE_FAULT_MEMORY with 128 2M mappings; splitting it to 4K takes 4
 * steps of 64 MiB, each splitting 32 of them.  The delay module
 * (selftests/kmod) busy-waits at the entry of kvm_split_huge_pages_step(),
 * where the ioctl holds no lock, so every step starts with a window of
 * DELAY_US.  A second thread waits until the ioctl is in the window of its
 * second step (one step done) and changes the slot there; its
 * KVM_SET_USER_MEMORY_REGION takes slots_lock before the step does, so the
 * step sees the change.  The test asserts that:
 *  - with no change, the call splits everything (the control, with every
 *    step delayed);
 *  - a move, a delete and re-create at the same place with other memory,
 *    or a plain delete make the call fail with EINVAL, with first_page
 *    and num_pages advanced by exactly the whole steps done before the
 *    change and split, split_huge_2m and split_huge_failed agreeing;
 *  - a delete and re-create of the identical slot (same range, same
 *    memory) and a flags-only update (dirty logging on) are the same
 *    slot: the call goes on to the end;
 *  - the delay really ran (ks_delay_count()), so the window was open.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define MOVED_GPA	(8ULL << 30)
#define TEST_SIZE	(256ULL << 20)
#define TEST_PAGES	(TEST_SIZE / 4096)
#define STEP_PAGES	((64ULL << 20) / 4096)
#define NR_STEPS	(TEST_PAGES / STEP_PAGES)
#define SPLITS_PER_STEP	(STEP_PAGES / 512)	/* 2M mappings per step */

#define STEP_SYM	"kvm_split_huge_pages_step"
#define DELAY_US	200000

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static void *test_hva, *other_hva;

enum change {
	CHANGE_NONE,
	CHANGE_MOVE,
	CHANGE_RECREATE_OTHER_MEMORY,
	CHANGE_DELETE,
	CHANGE_RECREATE_IDENTICAL,
	CHANGE_DIRTY_LOGGING,
};

static const char * const change_names[] = {
	[CHANGE_NONE] = "no change",
	[CHANGE_MOVE] = "move",
	[CHANGE_RECREATE_OTHER_MEMORY] = "delete, re-create with other memory",
	[CHANGE_DELETE] = "delete",
	[CHANGE_RECREATE_IDENTICAL] = "delete, re-create identically",
	[CHANGE_DIRTY_LOGGING] = "flags-only update (dirty logging on)",
};

/* Raw memslot updates: the VM is freed after each case. */
static void set_region(uint32_t flags, uint64_t gpa, uint64_t size, void *hva)
{
	int r = __vm_set_user_memory_region(vm, TEST_SLOT, flags, gpa, size, hva);

	TEST_ASSERT(!r, "KVM_SET_USER_MEMORY_REGION(flags %#x, gpa %#lx, size %#lx): %s",
		    flags, gpa, size, strerror(errno));
}

static void apply_change(enum change c)
{
	switch (c) {
	case CHANGE_NONE:
		break;
	case CHANGE_MOVE:
		set_region(0, MOVED_GPA, TEST_SIZE, test_hva);
		break;
	case CHANGE_RECREATE_OTHER_MEMORY:
		set_region(0, TEST_GPA, 0, test_hva);
		set_region(0, TEST_GPA, TEST_SIZE, other_hva);
		break;
	case CHANGE_DELETE:
		set_region(0, TEST_GPA, 0, test_hva);
		break;
	case CHANGE_RECREATE_IDENTICAL:
		set_region(0, TEST_GPA, 0, test_hva);
		set_region(0, TEST_GPA, TEST_SIZE, test_hva);
		break;
	case CHANGE_DIRTY_LOGGING:
		set_region(KVM_MEM_LOG_DIRTY_PAGES, TEST_GPA, TEST_SIZE, test_hva);
		break;
	}
}

/*
 * A fresh VM whose slot KVM_PRE_FAULT_MEMORY maps with 2M pages.  (Fresh
 * each time: after a memslot delete or move the vCPU's root is obsolete
 * until it runs, and KVM_PRE_FAULT_MEMORY on 6.12 would retry forever.)
 */
static void create_vm(void)
{
	struct kvm_pre_fault_memory range = {
		.gpa = TEST_GPA,
		.size = TEST_SIZE,
	};
	uint64_t p2m;
	int r;

	vm = vm_create_with_one_vcpu(&vcpu, NULL);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
	test_hva = addr_gpa2hva(vm, TEST_GPA);

	p2m = vm_get_stat(vm, "pages_2m");
	do {
		r = __vcpu_ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &range);
	} while (range.size && (!r || errno == EINTR || errno == EAGAIN));
	TEST_ASSERT(!r && !range.size, "KVM_PRE_FAULT_MEMORY: %s",
		    strerror(errno));
	TEST_ASSERT(vm_get_stat(vm, "pages_2m") - p2m == TEST_PAGES / 512,
		    "the slot is not mapped with %llu 2M pages",
		    TEST_PAGES / 512);
}

struct changer {
	enum change change;
	uint64_t delays_before;	/* steps entered when the change began */
	uint64_t delays_after;	/* and when it was done */
};

/*
 * Wait until the ioctl is in the delay of its second step, then change the
 * slot.  The ioctl holds no lock there, so the update gets slots_lock
 * first and the step, which waits for it, sees the change.
 */
static void *changer_thread(void *arg)
{
	struct changer *ch = arg;

	while ((ch->delays_before = ks_delay_count(STEP_SYM)) < 2)
		usleep(1000);
	apply_change(ch->change);
	ch->delays_after = ks_delay_count(STEP_SYM);
	return NULL;
}

/*
 * Run one case; false only for a delete and identical re-create that the
 * split saw half done (no slot: EINVAL), which happens when the changer is
 * scheduled out between its two ioctls for longer than the step's delay,
 * as on a loaded machine.  The caller repeats that case: a kernel that
 * took the identical slot for another would fail every attempt.
 */
static bool run_case(enum change c)
{
	struct kvm_split_huge_pages args = {
		.slot = TEST_SLOT,
		.num_pages = TEST_PAGES,
		.page_size = 4096,
	};
	struct changer ch = { .change = c };
	uint64_t s2m, failed, steps, delays;
	bool same_slot = c == CHANGE_NONE || c == CHANGE_RECREATE_IDENTICAL ||
			 c == CHANGE_DIRTY_LOGGING;
	pthread_t thread;
	char probes[64];
	int r;

	create_vm();
	s2m = vm_get_stat(vm, "split_huge_2m");
	failed = vm_get_stat(vm, "split_huge_failed");

	snprintf(probes, sizeof(probes), "%s:%u", STEP_SYM, DELAY_US);
	ks_delay_load(probes);
	if (c != CHANGE_NONE)
		pthread_create(&thread, NULL, changer_thread, &ch);
	r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
	if (c != CHANGE_NONE)
		pthread_join(thread, NULL);
	delays = ks_delay_count(STEP_SYM);
	ks_delay_unload();

	TEST_ASSERT(delays > 0, "%s: the delay at %s never ran",
		    change_names[c], STEP_SYM);
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_failed"), failed);

	if (c == CHANGE_RECREATE_IDENTICAL && r == -1 && errno == EINVAL) {
		pr_info("%s: the split saw the slot deleted, not yet re-created (%lu delayed steps): again\n",
			change_names[c], delays);
		kvm_vm_free(vm);
		return false;
	}
	if (same_slot) {
		TEST_ASSERT(!r, "%s: r = %d, errno = %d (%s), expected success",
			    change_names[c], r, errno, strerror(errno));
		TEST_ASSERT_EQ(args.first_page, TEST_PAGES);
		TEST_ASSERT_EQ(args.num_pages, 0);
		TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_2m") - s2m, args.split);
		if (c == CHANGE_NONE) {
			TEST_ASSERT_EQ(args.split, TEST_PAGES / 512);
			TEST_ASSERT_EQ(delays, NR_STEPS);
		} else {
			/* Whole steps, the first one before the change. */
			TEST_ASSERT(args.split % SPLITS_PER_STEP == 0 &&
				    args.split >= SPLITS_PER_STEP,
				    "%s: %llu splits, expected whole steps",
				    change_names[c], args.split);
		}
		/*
		 * The re-create zapped the slot's mappings: the steps after
		 * it had nothing left to split, which shows the change came
		 * mid-call and the call went on over the re-created slot.
		 */
		if (c == CHANGE_RECREATE_IDENTICAL)
			TEST_ASSERT(args.split < TEST_PAGES / 512,
				    "%s: %llu splits, expected only the steps before the change",
				    change_names[c], args.split);
		pr_info("%s: same slot, the call went on to the end (%llu mappings split, %lu delayed steps)\n",
			change_names[c], args.split, delays);
		kvm_vm_free(vm);
		return true;
	}

	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "%s: r = %d, errno = %d (%s), expected EINVAL",
		    change_names[c], r, errno, strerror(errno));
	/* Progress stops at the step boundary before the change. */
	TEST_ASSERT(args.first_page % STEP_PAGES == 0,
		    "%s: first_page %llu is not a step boundary",
		    change_names[c], args.first_page);
	TEST_ASSERT_EQ(args.first_page + args.num_pages, TEST_PAGES);
	steps = args.first_page / STEP_PAGES;
	TEST_ASSERT(steps >= 1 && steps < NR_STEPS,
		    "%s: %lu steps done, expected 1 to %llu", change_names[c],
		    steps, NR_STEPS - 1);
	/*
	 * The change began in the delay of step delays_before (or later) and
	 * ended before step delays_after + 1 began: the call stopped at one
	 * of those.
	 */
	TEST_ASSERT(steps + 1 >= ch.delays_before && steps <= ch.delays_after,
		    "%s: stopped after %lu steps, the change ran between steps %lu and %lu",
		    change_names[c], steps, ch.delays_before, ch.delays_after);
	TEST_ASSERT_EQ(args.split, steps * SPLITS_PER_STEP);
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_2m") - s2m, args.split);
	pr_info("%s: EINVAL after %lu of %llu steps, %llu mappings split (change between delays %lu and %lu)\n",
		change_names[c], steps, NR_STEPS, args.split, ch.delays_before,
		ch.delays_after);
	/* The library deletes its slots: give it back the one it knows. */
	if (c == CHANGE_DELETE)
		set_region(0, TEST_GPA, TEST_SIZE, test_hva);
	kvm_vm_free(vm);
	return true;
}

int main(int argc, char *argv[])
{
	int tries = 0;

	TEST_ASSERT(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		    "KVM_SPLIT_HUGE_PAGES missing: kvm-split's KVM is not loaded");
	__TEST_REQUIRE(ks_pre_fault_memory(),
		       "no KVM_PRE_FAULT_MEMORY on this kernel (6.1): cannot map the slot with 2M pages ahead of the split");

	other_hva = mmap(NULL, TEST_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(other_hva != MAP_FAILED, "mmap: %s", strerror(errno));

	run_case(CHANGE_NONE);
	run_case(CHANGE_MOVE);
	run_case(CHANGE_RECREATE_OTHER_MEMORY);
	run_case(CHANGE_DELETE);
	while (!run_case(CHANGE_RECREATE_IDENTICAL))
		TEST_ASSERT(++tries < 5,
			    "delete, re-create identically: the split never saw the re-created slot in 5 attempts");
	run_case(CHANGE_DIRTY_LOGGING);
	munmap(other_hva, TEST_SIZE);
	return 0;
}
