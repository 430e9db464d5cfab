// SPDX-License-Identifier: GPL-2.0
/*
 * clear_dirty_log_race_test: make the fault-vs-clear race of a read-locked
 * KVM_CLEAR_DIRTY_LOG happen, and check that no write is lost.
 *
 * The window.  A vCPU write fault on a page whose SPTE is not present (or
 * not writable) runs, under mmu_lock held for read, make_spte(), which
 * sets the page's dirty bit, and only then installs the writable SPTE
 * (tdp_mmu_map_handle_target_level()).  A clear that runs entirely inside
 * that window clears the bit, finds no SPTE to write-protect, and the
 * fault then installs a writable SPTE over a clean bit: every later write
 * to the page is invisible to dirty logging.  With upstream's write-locked
 * clear the window cannot be entered at all.
 *
 * The test.  The delay module (selftests/kmod) busy-waits after make_spte()
 * returns, so the window lasts -d microseconds.  Two vCPUs write a unique
 * value to random pages of a 64 MiB slot backed by shared memory
 * (memfd), with manual-protect and initially-set, so their first touches
 * are such faults; a zapper thread keeps dropping random 2 MiB ranges of
 * the backing with MADV_DONTNEED, whose MMU notifier zaps the SPTEs (the
 * data stays in the page cache), so the faults never stop.  The host plays
 * a migrating VMM: KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG of exactly the
 * bits it saw, then copies those pages to a destination, round after
 * round.  When the vCPUs stop, a last fetch and copy must leave the
 * destination equal to the source: a page that differs is a lost write.
 *
 * Run with the defaults it exercises kvm-split's chunked clear (chunk 64)
 * through whichever path kvm.clear_dirty_log_shared selects (or the
 * read-locked path's write-locked fallback, forced by the test-only
 * kvm.clear_dirty_log_test_fallback), and checks from the statistics
 * which path ran; -c 0 runs upstream's single write-locked pass, which
 * also works on the distro's KVM (clear_dirty_log_race_stock in
 * tests.list).
 *
 *   -s secs   run time (default 20)
 *   -c pages  KVM_CAP_CLEAR_DIRTY_LOG_CHUNK (default 64; 0: not set)
 *   -d usecs  delay after make_spte() (default 2000; 0: no delay module)
 *   -z        no zapper thread (first touches only)
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_VCPUS	2
#define RACE_SLOT	1
#define RACE_GPA	(4UL << 30)
#define RACE_SIZE	(64UL << 20)
#define RACE_PAGES	((uint64_t)(RACE_SIZE / PAGE_SIZE))
#define ZAP_SIZE	(2UL << 20)

static bool race_stop;			/* host -> guest */
static uint64_t race_writes[NR_VCPUS];	/* guest -> host */

/* Each write stores a value no other write stores: (count << 1) | id. */
static void race_guest_code(uint32_t id, uint64_t seed)
{
	uint64_t x = seed | 1, n = 0;

	while (!READ_ONCE(race_stop)) {
		uint64_t page;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % RACE_PAGES;
		n++;
		WRITE_ONCE(*(uint64_t *)(RACE_GPA + page * PAGE_SIZE),
			   n << 1 | id);
		if (!(n & 63))
			WRITE_ONCE(race_writes[id], n);
	}
	WRITE_ONCE(race_writes[id], n);
	GUEST_DONE();
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_DONE);
	return NULL;
}

struct zapper {
	uint8_t *hva;
	bool stop;
	uint64_t zaps;
};

/* Drop random 2 MiB ranges of the backing: KVM zaps their SPTEs. */
static void *zapper_thread(void *arg)
{
	struct zapper *z = arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	while (!READ_ONCE(z->stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		TEST_ASSERT(!madvise(z->hva + (x % (RACE_SIZE / ZAP_SIZE)) *
				     ZAP_SIZE, ZAP_SIZE, MADV_DONTNEED),
			    "MADV_DONTNEED: %s", strerror(errno));
		z->zaps++;
		usleep(2000);
	}
	return NULL;
}

static uint64_t peek(uint8_t *hva, uint64_t p)
{
	return READ_ONCE(*(uint64_t *)(hva + p * PAGE_SIZE));
}

int main(int argc, char *argv[])
{
	uint64_t secs = 20, chunk = 64, delay_us = 2000, rounds = 0, copied = 0;
	unsigned long *bmap = bitmap_zalloc(RACE_PAGES);
	uint64_t *dest = calloc(RACE_PAGES, sizeof(*dest));
	struct kvm_vcpu *vcpus[NR_VCPUS];
	pthread_t threads[NR_VCPUS], zt;
	struct zapper z = {};
	uint64_t p, lost = 0, first_lost = 0, lost_src = 0, delays = 0;
	uint64_t shared = 0, hold = 0;
	bool zap = true;
	struct kvm_vm *vm;
	uint64_t *writes, w0, w1;
	time_t t0;
	int opt, i;

	TEST_ASSERT(bmap && dest, "out of memory");
	while ((opt = getopt(argc, argv, "s:c:d:z")) != -1) {
		switch (opt) {
		case 's':
			secs = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			delay_us = strtoull(optarg, NULL, 0);
			break;
		case 'z':
			zap = false;
			break;
		default:
			TEST_FAIL("usage: %s [-s secs] [-c chunk] [-d usecs] [-z]",
				  argv[0]);
		}
	}
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2));
	/* The chunk is the point of the test: its absence is a failure. */
	if (chunk)
		TEST_ASSERT(kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
			    "KVM_CAP_CLEAR_DIRTY_LOG_CHUNK missing: kvm-split's KVM is not loaded");

	if (delay_us) {
		char probes[64];

		snprintf(probes, sizeof(probes), "make_spte%%ret:%lu", delay_us);
		ks_delay_load(probes);
	}

	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, RACE_PAGES,
				    race_guest_code, vcpus);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	if (chunk)
		vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, chunk);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_SHMEM, RACE_GPA, RACE_SLOT,
				    RACE_PAGES, KVM_MEM_LOG_DIRTY_PAGES);
	virt_map(vm, RACE_GPA, RACE_GPA, RACE_PAGES);
	z.hva = addr_gpa2hva(vm, RACE_GPA);
	writes = addr_gva2hva(vm, (vm_vaddr_t)&race_writes);

	pr_info("%s clear%s, chunk %lu, clear_dirty_log_shared=%s, delay %lu us, %s\n",
		chunk ? "chunked" : "upstream's",
		chunk ? "" : " (one write-locked pass)", chunk,
		chunk ? (get_kvm_param_bool("clear_dirty_log_shared") ? "Y" : "N") : "-",
		delay_us, zap ? "zapper on" : "first touches only");

	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 2, i, 0x1234567ULL * (i + 1));
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	if (zap)
		pthread_create(&zt, NULL, zapper_thread, &z);

	/*
	 * The VMM: fetch, clear exactly the bits seen, copy after the clear
	 * returned (seed 003's rule), as fast as it can.
	 */
	t0 = time(NULL);
	while (time(NULL) - t0 < (time_t)secs) {
		kvm_vm_get_dirty_log(vm, RACE_SLOT, bmap);
		kvm_vm_clear_dirty_log(vm, RACE_SLOT, bmap, 0, RACE_PAGES);
		for (p = 0; p < RACE_PAGES; p++) {
			if (!test_bit(p, bmap))
				continue;
			dest[p] = peek(z.hva, p);
			copied++;
		}
		rounds++;
	}

	WRITE_ONCE(z.stop, true);
	if (zap)
		pthread_join(zt, NULL);
	WRITE_ONCE(*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&race_stop), true);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);

	/* The last round, with the vCPUs stopped: nothing may differ now. */
	kvm_vm_get_dirty_log(vm, RACE_SLOT, bmap);
	for (p = 0; p < RACE_PAGES; p++) {
		if (test_bit(p, bmap))
			dest[p] = peek(z.hva, p);
		if (dest[p] != peek(z.hva, p)) {
			if (!lost) {
				first_lost = p;
				lost_src = peek(z.hva, p);
			}
			lost++;
		}
	}
	if (delay_us)
		delays = ks_delay_count("make_spte");
	if (chunk) {
		shared = vm_get_stat(vm, "clear_dirty_shared_chunks");
		hold = vm_get_stat(vm, "clear_dirty_max_hold_ns");
		pr_info("%lu chunks re-armed under mmu_lock held for read, longest write hold %lu ns\n",
			shared, hold);
	}
	w0 = READ_ONCE(writes[0]);
	w1 = READ_ONCE(writes[1]);

	pr_info("%lu rounds in %lus, %lu pages copied, %lu + %lu guest writes, %lu zaps, %lu delayed faults\n",
		rounds, secs, copied, w0, w1, z.zaps, delays);
	pr_info("lost pages: %lu of %lu\n", lost, RACE_PAGES);

	kvm_vm_free(vm);
	if (delay_us)
		ks_delay_unload();

	TEST_ASSERT(!lost,
		    "%lu of %lu pages lost: page %lu holds %#lx at the source, %#lx at the destination",
		    lost, RACE_PAGES, first_lost, lost_src,
		    dest[first_lost]);
	TEST_ASSERT(w0 && w1 && copied,
		    "the vCPUs or the VMM made no progress");
	if (delay_us)
		TEST_ASSERT(delays, "the delay after make_spte() never ran");
	/* The path the run exercised, as the module parameters chose it. */
	if (chunk && get_kvm_param_bool("clear_dirty_log_shared") &&
	    !get_kvm_param_bool("clear_dirty_log_test_fallback"))
		TEST_ASSERT(shared, "no chunk was re-armed under the read lock");
	else if (chunk)
		TEST_ASSERT(!shared && hold,
			    "the write-locked path did not run (%lu shared chunks)",
			    shared);
	free(bmap);
	free(dest);
	return 0;
}
