// SPDX-License-Identifier: GPL-2.0
/*
 * split_huge_pages_integrity_test: KVM_SPLIT_HUGE_PAGES under a running
 * guest.
 *
 * Two vCPUs keep writing a 512 MiB slot backed by 2M hugetlb pages, one
 * word per 4 KiB page (the vCPUs take alternate pages), while the host
 * splits the slot to 4K in 16 MiB slices.  Before overwriting a page the
 * guest checks it still holds its own previous value, so a split that
 * loses a write or maps the wrong page is caught in the guest.  At every
 * checkpoint the vCPUs are parked and the host checks every page holds
 * what the vCPU last wrote.  The test runs twice:
 *  - dirty logging off: the ioctl splits all 256 2M mappings, and a
 *    final call finds nothing left to split;
 *  - dirty logging enabled after the slot was populated huge, the host
 *    fetching the log (KVM_GET_DIRTY_LOG) after each group of slices:
 *    every page whose content changed since the previous fetch must be
 *    reported dirty, as dirty_log_test checks it.  (With eager_page_split
 *    KVM splits the slot itself when logging starts and the ioctl finds
 *    nothing to split; without it the ioctl splits write-protected huge
 *    mappings.)
 */
#include <pthread.h>
#include <semaphore.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_VCPUS	2
#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define TEST_SIZE	(512ULL << 20)
#define TEST_PAGES	(TEST_SIZE / PAGE_SIZE)
#define SLICE_PAGES	((16ULL << 20) / PAGE_SIZE)
#define NR_SLICES	(TEST_PAGES / SLICE_PAGES)
#define SLICES_PER_CHECK 8
#define NR_2M		(TEST_SIZE >> 21)

/* Value page @idx holds after pass @pass of its vCPU (0: never written). */
static inline uint64_t val(uint64_t pass, uint64_t idx)
{
	return pass ? pass << 32 | idx : 0;
}

static void guest_code(uint32_t vcpu_idx)
{
	uint64_t pass, i;

	for (pass = 1;; pass++) {
		for (i = vcpu_idx; i < TEST_PAGES; i += NR_VCPUS) {
			uint64_t *p = (uint64_t *)(TEST_GPA + i * PAGE_SIZE);

			GUEST_ASSERT_EQ(*p, val(pass - 1, i));
			*p = val(pass, i);
		}
		GUEST_SYNC(pass);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpus[NR_VCPUS];
static pthread_t threads[NR_VCPUS];

/* Passes each vCPU completed: written by its thread, read by the host. */
static uint64_t passes[NR_VCPUS];
static bool park_request, stop;
static sem_t sem_parked, sem_resume;

/* Run passes back to back; park between two passes when asked. */
static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
		TEST_ASSERT_EQ(uc.args[1], passes[vcpu->id] + 1);
		WRITE_ONCE(passes[vcpu->id], uc.args[1]);

		if (READ_ONCE(park_request)) {
			sem_post(&sem_parked);
			sem_wait(&sem_resume);
			if (READ_ONCE(stop))
				return NULL;
		}
	}
}

/* Wait until every vCPU has finished its current pass and stopped. */
static void park_vcpus(void)
{
	int i;

	WRITE_ONCE(park_request, true);
	for (i = 0; i < NR_VCPUS; i++)
		sem_wait(&sem_parked);
	WRITE_ONCE(park_request, false);
}

static void resume_vcpus(void)
{
	int i;

	for (i = 0; i < NR_VCPUS; i++)
		sem_post(&sem_resume);
}

/*
 * With the vCPUs parked: every page holds what its vCPU wrote last, and
 * with dirty logging every page that changed since the previous fetch is
 * in the bitmap fetched now.
 */
static void check_memory(bool log_dirty, uint64_t *seen, unsigned long *bmap,
			 uint64_t *nr_dirty)
{
	uint64_t *hva = addr_gpa2hva(vm, TEST_GPA);
	uint64_t i;

	if (log_dirty)
		kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);

	for (i = 0; i < TEST_PAGES; i++) {
		uint64_t v = hva[i * PAGE_SIZE / sizeof(*hva)];

		TEST_ASSERT(v == val(passes[i % NR_VCPUS], i),
			    "page %lu holds %#lx, expected %#lx", i, v,
			    val(passes[i % NR_VCPUS], i));
		if (log_dirty && v != seen[i]) {
			TEST_ASSERT(test_bit(i, bmap),
				    "page %lu changed (%#lx -> %#lx) but is not reported dirty",
				    i, seen[i], v);
			(*nr_dirty)++;
		}
		seen[i] = v;
	}
}

static void run_test(bool log_dirty)
{
	uint64_t *seen = calloc(TEST_PAGES, sizeof(*seen));
	unsigned long *bmap = bitmap_zalloc(TEST_PAGES);
	uint64_t split_2m, nr_split = 0, nr_dirty = 0, slice = 0;
	struct timespec start;
	int i, j;

	TEST_ASSERT(seen && bmap, "out of memory");

	clock_gettime(CLOCK_MONOTONIC, &start);
	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, TEST_PAGES,
				    guest_code, vcpus);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);

	/* One pass to map the slot with 2M pages, then park. */
	memset(passes, 0, sizeof(passes));
	stop = false;
	park_request = true;
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	park_vcpus();
	check_memory(false, seen, bmap, &nr_dirty);

	if (log_dirty)
		vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	split_2m = vm_get_stat(vm, "split_huge_2m");

	/*
	 * Split slice by slice while both vCPUs keep writing, spread over
	 * their passes; check at a parked point after every few slices.
	 */
	for (i = 0; i < NR_SLICES / SLICES_PER_CHECK; i++) {
		resume_vcpus();
		for (j = 0; j < SLICES_PER_CHECK; j++, slice++) {
			nr_split += ks_split(vm, TEST_SLOT, slice * SLICE_PAGES,
					     SLICE_PAGES, 4096);
			usleep(10 * 1000);
		}
		park_vcpus();
		check_memory(log_dirty, seen, bmap, &nr_dirty);
	}

	WRITE_ONCE(stop, true);
	resume_vcpus();
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);

	/* The calls' counts are the stats', and nothing huge is left. */
	TEST_ASSERT_EQ(vm_get_stat(vm, "split_huge_2m") - split_2m, nr_split);
	if (!log_dirty)
		TEST_ASSERT_EQ(nr_split, NR_2M);
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, TEST_PAGES, 4096), 0);

	pr_info("dirty logging %s: %lu + %lu passes, %lu 2M mappings split by the ioctl",
		log_dirty ? "on " : "off", passes[0], passes[1], nr_split);
	if (log_dirty)
		pr_info(", %lu dirty pages checked", nr_dirty);
	pr_info(", %.1f s\n", timespec_to_ns(timespec_elapsed(start)) / 1e9);

	kvm_vm_free(vm);
	free(bmap);
	free(seen);
}

int main(int argc, char *argv[])
{
	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded, or no TDP MMU)");

	sem_init(&sem_parked, 0, 0);
	sem_init(&sem_resume, 0, 0);

	pr_info("eager_page_split=%d\n", get_kvm_param_bool("eager_page_split"));
	run_test(false);
	run_test(true);
	return 0;
}
