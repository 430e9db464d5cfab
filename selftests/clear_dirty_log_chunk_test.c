// SPDX-License-Identifier: GPL-2.0
/*
 * clear_dirty_log_chunk_test: KVM_CLEAR_DIRTY_LOG in chunks
 * (KVM_CAP_CLEAR_DIRTY_LOG_CHUNK of kvm-split).
 *
 * 1. Lost-write hunt.  Two vCPUs keep writing the host's round number to
 *    random pages of a 32 MiB slot backed by 2M hugetlb pages, with
 *    manual-protect and initially-set.  Every round the host snapshots the
 *    slot, fetches the log, checks that every page whose content differs
 *    from the host's copy of it is reported dirty, then clears some of the
 *    bits it knows are dirty (never others: seed 003's rule) over the whole
 *    slot or a random 64-aligned sub-range, with a chunk size picked at
 *    random each round (0 = upstream, 64 pages .. whole slot, 2^18), and
 *    copies the cleared pages after the clear returns.  Every few hundred
 *    rounds dirty logging is turned off and on, so that KVM maps the slot
 *    huge again and the next clears split it chunk by chunk while the vCPUs
 *    write.  clear_dirty_chunks must grow by the exact number of chunks of
 *    each call.  The run in tests.list with kvm.clear_dirty_log_shared=N
 *    hunts through the write-locked path, the default one through the
 *    read-locked one (the longest write hold tells which ran).  A changed
 *    page whose bit is missing is looked at again with the vCPUs paused
 *    (late_mark_us()): upstream's fast page fault marks the page after
 *    making its SPTE writable, so a write can be seen before its bit; only
 *    a bit still missing then is a lost write.  -c 0 hunts with upstream's single pass alone, which
 *    also runs on the distro's KVM (the control, distro_kvm_test.sh).
 * 2. The capability's arguments: KVM_CHECK_EXTENSION, bad values, sizes,
 *    flags and args[1..3] fail with EINVAL and leave the previous chunk in
 *    force (values above the maximum, 2^18 pages, among them) (seen from the clear_dirty_chunks count of a later clear); the
 *    kvm.clear_dirty_log_chunk module parameter rejects bad values, applies
 *    to VMs that never set the capability only, and is restored.
 * 3. Dirty ring VMs: the capability can be enabled (before or after the
 *    ring; the value is simply never used) and KVM_CLEAR_DIRTY_LOG keeps
 *    failing with ENXIO, as upstream.
 * 4. Ranges: upstream's rules (first_page 64-aligned, num_pages a multiple
 *    of 64 unless the range ends at the slot's end, range inside the slot)
 *    hold with every chunk size; on a 1000-page slot (last word partial),
 *    a 2M hugetlb slot and a slot in address space 1 (SMM), accepted
 *    calls clear exactly the requested bits of exactly one slot, count
 *    exactly the chunks the range touches (a range starting or ending
 *    mid-chunk, a chunk larger than the range, the partial last word) and
 *    split exactly the 2M mappings around the bits they clear; rejected
 *    ones change nothing.  After every case the vCPU writes the slots
 *    again: every page must be dirty again, so every cleared page was
 *    write-protected.
 */
#include <errno.h>
#include <fcntl.h>
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

/*
 * Host bitmaps use the non-atomic __set_bit()/__clear_bit(): in 6.12's
 * tools/arch/x86/include/asm/atomic.h, clear_bit() is "lock btc", a toggle.
 */
#define MANUAL_CAPS	(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | \
			 KVM_DIRTY_LOG_INITIALLY_SET)
#define PARAM_PATH	"/sys/module/kvm/parameters/clear_dirty_log_chunk"
#define SZ_2M		(1ULL << 21)
#define PAGES_PER_2M	(SZ_2M / PAGE_SIZE)
/* The largest chunk KVM accepts: 1 GiB of 4 KiB pages. */
#define CHUNK_MAX	(1ULL << 18)

static uint64_t rnd_state;

/* Host-side xorshift, seeded from the framework's random seed. */
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int __set_chunk_full(struct kvm_vm *vm, uint32_t flags,
			    const uint64_t args[4])
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_CLEAR_DIRTY_LOG_CHUNK,
		.flags = flags,
	};

	memcpy(cap.args, args, sizeof(cap.args[0]) * 4);
	return __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

static void set_chunk(struct kvm_vm *vm, uint64_t chunk)
{
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, chunk);
}

static int __clear_log(struct kvm_vm *vm, uint32_t slot, void *bitmap,
		       uint64_t first, uint32_t num)
{
	struct kvm_clear_dirty_log args = {
		.dirty_bitmap = bitmap,
		.slot = slot,
		.first_page = first,
		.num_pages = num,
	};

	return __vm_ioctl(vm, KVM_CLEAR_DIRTY_LOG, &args);
}

static void clear_log(struct kvm_vm *vm, uint32_t slot, void *bitmap,
		      uint64_t first, uint32_t num)
{
	int r = __clear_log(vm, slot, bitmap, first, num);

	TEST_ASSERT(!r, "KVM_CLEAR_DIRTY_LOG(slot %#x, %lu + %u) failed: %s",
		    slot, first, num, strerror(errno));
}

static int __get_log(struct kvm_vm *vm, uint32_t slot, void *bitmap)
{
	struct kvm_dirty_log args = { .dirty_bitmap = bitmap, .slot = slot };

	return __vm_ioctl(vm, KVM_GET_DIRTY_LOG, &args);
}

/*
 * Chunks KVM processes for a clear of [first, first + num): every chunk
 * aligned window (relative to the slot's first page) the range touches,
 * whether or not it has bits to clear.  0 for upstream's single pass.
 */
static uint64_t nr_chunks(uint64_t first, uint64_t num, uint64_t chunk)
{
	if (!chunk || !num)
		return 0;
	return (first + num - 1) / chunk - first / chunk + 1;
}

/* ------------------------------------------------------------------ */
/* 1. Lost-write hunt                                                 */
/* ------------------------------------------------------------------ */

#define NR_VCPUS	2
#define HUNT_SLOT	1
#define HUNT_GPA	(4ULL << 30)
#define HUNT_SIZE	(32ULL << 20)
#define HUNT_PAGES	(HUNT_SIZE / PAGE_SIZE)
#define HUNT_BATCH	16

/* Written by the host: the value the vCPUs write, and "stop". */
static uint64_t hunt_iter;
static bool hunt_stop;
/* Written by the guest: pages written by each vCPU. */
static uint64_t hunt_writes[NR_VCPUS];
/* Non-zero: the host asks the vCPUs to stop writing; each acks with it. */
static uint64_t hunt_pause;
static uint64_t hunt_pause_ack[NR_VCPUS];
/* -x: the broken order (copy, then clear) that must be caught. */
static bool copy_first;
/* -c: the chunk of every round (-1: random); -n: no logging restarts. */
static int64_t force_chunk = -1;
static bool no_restarts;
/* No KVM_CAP_CLEAR_DIRTY_LOG_CHUNK: the distro's KVM, with -c 0 only. */
static bool stock;
/* -D: delay module probes loaded for the hunt. */
static const char *delay_probes;
/* How long the vCPUs may take to pause (late_mark_us()). */
#define LATE_MARK_MAX_MS	2000

static void hunt_guest_code(uint32_t id, uint64_t seed)
{
	uint64_t x = seed | 1, i;

	/* Map the whole slot (huge) before the host enables logging. */
	for (i = id; i < HUNT_PAGES; i += NR_VCPUS)
		WRITE_ONCE(*(uint64_t *)(HUNT_GPA + i * PAGE_SIZE),
			   READ_ONCE(hunt_iter));
	WRITE_ONCE(hunt_writes[id], HUNT_PAGES / NR_VCPUS);

	while (!READ_ONCE(hunt_stop)) {
		uint64_t pause = READ_ONCE(hunt_pause);

		if (pause) {
			WRITE_ONCE(hunt_pause_ack[id], pause);
			while (READ_ONCE(hunt_pause) == pause)
				;
			continue;
		}
		for (i = 0; i < HUNT_BATCH; i++) {
			uint64_t page;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			page = x % HUNT_PAGES;
			WRITE_ONCE(*(uint64_t *)(HUNT_GPA + page * PAGE_SIZE),
				   READ_ONCE(hunt_iter));
		}
		WRITE_ONCE(hunt_writes[id], hunt_writes[id] + HUNT_BATCH);
	}
	GUEST_DONE();
}

/* The word the guest writes in page @p of the slot at @hva. */
static uint64_t peek(uint64_t *hva, uint64_t p)
{
	return READ_ONCE(hva[p * PAGE_SIZE / sizeof(*hva)]);
}

/*
 * Page @p holds a value written after its bit was last cleared, and the
 * log fetched after the snapshot does not have the bit: stop the vCPUs'
 * writes and look again.  A write can be seen before its bit is set
 * without being lost: the fast
 * page fault path (fast_pf_fix_direct_spte()) makes the SPTE writable by
 * cmpxchg and only then marks the page dirty, outside mmu_lock, so another
 * vCPU can write the page through the new SPTE in between.  If the faulting
 * task is preempted there (7.x's PREEMPT_LAZY, not 6.12's
 * PREEMPT_VOLUNTARY), the window lasts a scheduler tick or more.  The bit
 * is set when the task resumes; a VMM sees it in its next fetch, and its
 * last pass, with the vCPUs stopped, sees every bit.  So the vCPUs are
 * paused in the guest (between two writes, after every fault they took
 * has marked) and the log fetched again: a lost write's bit is still
 * missing then, unless a later write to the page faulted before the pause
 * (a few milliseconds: -x still fails).  Returns how long the bit took, in
 * microseconds.
 */
static uint64_t late_mark_us(struct kvm_vm *vm, unsigned long *bmap,
			     uint64_t p, uint64_t round, uint64_t was,
			     uint64_t now)
{
	uint64_t *pause = addr_gva2hva(vm, (vm_vaddr_t)&hunt_pause);
	uint64_t *ack = addr_gva2hva(vm, (vm_vaddr_t)&hunt_pause_ack);
	static uint64_t seq;
	struct timespec t0, t1;
	int i, ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	WRITE_ONCE(*pause, ++seq);
	for (i = 0; i < NR_VCPUS; i++) {
		for (ms = 0; READ_ONCE(ack[i]) != seq; ms++) {
			TEST_ASSERT(ms < LATE_MARK_MAX_MS,
				    "vCPU %d did not pause in %d ms", i,
				    LATE_MARK_MAX_MS);
			usleep(1000);
		}
	}
	kvm_vm_get_dirty_log(vm, HUNT_SLOT, bmap);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TEST_ASSERT(test_bit(p, bmap),
		    "round %lu: lost write: page %lu changed (%lu -> %lu) but is not dirty, nor with the vCPUs paused",
		    round, p, was, now);
	WRITE_ONCE(*pause, 0);
	return (t1.tv_sec - t0.tv_sec) * 1000000 +
	       (t1.tv_nsec - t0.tv_nsec) / 1000;
}

static void *hunt_vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_DONE);
	return NULL;
}

static uint64_t hunt_chunk(void)
{
	uint64_t r = rnd_below(16);

	if (force_chunk >= 0)
		return force_chunk;

	if (r < 2)
		return 0;			/* upstream */
	if (r == 2)
		return CHUNK_MAX;		/* largest */
	/* 64 .. 16384 pages: 8192 is the whole slot, 16384 more. */
	return 64ULL << rnd_below(9);
}

static void test_lost_writes(uint64_t max_rounds, uint64_t max_secs)
{
	struct kvm_vcpu *vcpus[NR_VCPUS];
	pthread_t threads[NR_VCPUS];
	unsigned long *bmap = bitmap_zalloc(HUNT_PAGES);
	unsigned long *clr = bitmap_zalloc(HUNT_PAGES);
	uint64_t *copy = calloc(HUNT_PAGES, sizeof(*copy));
	uint64_t *snap = calloc(HUNT_PAGES, sizeof(*snap));
	uint64_t rounds, verified = 0, cleared = 0, toggles = 0, upstream = 0;
	uint64_t split0, chunks_total = 0, next_toggle, p;
	uint64_t late = 0, late_max_us = 0;
	uint64_t *hva, *iter, *writes;
	bool eager;
	struct kvm_vm *vm;
	time_t t0;
	int i;

	TEST_ASSERT(bmap && clr && copy && snap, "out of memory");

	if (delay_probes)
		ks_delay_load(delay_probes);
	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, HUNT_PAGES,
				    hunt_guest_code, vcpus);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, MANUAL_CAPS);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, HUNT_GPA,
				    HUNT_SLOT, HUNT_PAGES, 0);
	virt_map(vm, HUNT_GPA, HUNT_GPA, HUNT_PAGES);
	hva = addr_gpa2hva(vm, HUNT_GPA);
	iter = addr_gva2hva(vm, (vm_vaddr_t)&hunt_iter);
	writes = addr_gva2hva(vm, (vm_vaddr_t)&hunt_writes);
	WRITE_ONCE(*iter, 1);

	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 2, i, rnd());
		pthread_create(&threads[i], NULL, hunt_vcpu_thread, vcpus[i]);
	}
	/* Wait for the first pass: the slot is mapped with 2M pages. */
	for (i = 0; i < NR_VCPUS; i++)
		while (!READ_ONCE(writes[i]))
			usleep(1000);

	eager = get_kvm_param_bool("eager_page_split") &&
		get_kvm_param_bool("tdp_mmu");
	split0 = stock ? 0 : vm_get_stat(vm, "split_huge_2m");
	vm_mem_region_set_flags(vm, HUNT_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	next_toggle = 200 + rnd_below(200);

	t0 = time(NULL);
	for (rounds = 1; rounds <= max_rounds; rounds++) {
		uint64_t chunk, first, num, before, n;

		WRITE_ONCE(*iter, rounds + 1);

		/*
		 * Snapshot before fetching: a value seen here that differs
		 * from the copy was written after the copy was taken, i.e.
		 * after the CLEAR that preceded the copy returned, so its
		 * bit must be set by now.
		 */
		for (p = 0; p < HUNT_PAGES; p++)
			snap[p] = peek(hva, p);
		kvm_vm_get_dirty_log(vm, HUNT_SLOT, bmap);
		for (p = 0; p < HUNT_PAGES; p++) {
			TEST_ASSERT(snap[p] && snap[p] <= rounds + 1,
				    "page %lu holds %lu in round %lu", p,
				    snap[p], rounds);
			if (snap[p] == copy[p])
				continue;
			if (!test_bit(p, bmap)) {
				uint64_t us = late_mark_us(vm, bmap, p, rounds,
							   copy[p], snap[p]);

				if (late++ < 10)
					pr_info("round %lu: page %lu changed (%lu -> %lu), its bit set %lu us later (late mark)\n",
						rounds, p, copy[p], snap[p], us);
				late_max_us = max(late_max_us, us);
			}
			verified++;
		}

		/* Clear a range, only bits known dirty, in random chunks. */
		chunk = hunt_chunk();
		if (!stock)
			set_chunk(vm, chunk);
		switch (rnd_below(3)) {
		case 0:
			first = 0;
			num = HUNT_PAGES;
			break;
		case 1:
			first = rnd_below(HUNT_PAGES / 64) * 64;
			num = (rnd_below((HUNT_PAGES - first) / 64) + 1) * 64;
			break;
		default:
			first = rnd_below(HUNT_PAGES / 64) * 64;
			num = HUNT_PAGES - first;
			break;
		}
		bitmap_zero(clr, HUNT_PAGES);
		for (p = first; p < first + num; p++) {
			if (!test_bit(p, bmap))
				continue;
			/* A quarter of the rounds clear a random subset. */
			if ((rounds & 3) == 0 && (rnd() & 1))
				continue;
			__set_bit(p - first, clr);
		}
		if (copy_first) {
			for (p = 0; p < num; p++)
				if (test_bit(p, clr))
					copy[first + p] = peek(hva, first + p);
		}
		before = stock ? 0 : vm_get_stat(vm, "clear_dirty_chunks");
		clear_log(vm, HUNT_SLOT, clr, first, num);
		n = stock ? 0 : vm_get_stat(vm, "clear_dirty_chunks") - before;
		TEST_ASSERT(n == nr_chunks(first, num, chunk),
			    "clear of %lu + %lu with chunk %lu: %lu chunks, expected %lu",
			    first, num, chunk, n, nr_chunks(first, num, chunk));
		chunks_total += n;
		upstream += !chunk;

		/* The migration copy, taken after CLEAR returned. */
		for (p = 0; p < num; p++) {
			if (!test_bit(p, clr))
				continue;
			if (!copy_first)
				copy[first + p] = peek(hva, first + p);
			cleared++;
		}

		/*
		 * Now and then stop logging and start again: KVM maps the
		 * slot huge again (the vCPUs keep faulting it in), every bit
		 * is set again, and the next clears split it under writes.
		 */
		if (rounds == next_toggle && !no_restarts) {
			vm_mem_region_set_flags(vm, HUNT_SLOT, 0);
			usleep(20000);
			vm_mem_region_set_flags(vm, HUNT_SLOT,
						KVM_MEM_LOG_DIRTY_PAGES);
			next_toggle += 200 + rnd_below(200);
			toggles++;
		}
		if (max_secs && time(NULL) - t0 >= max_secs) {
			rounds++;
			break;
		}
	}
	rounds--;

	WRITE_ONCE(*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&hunt_stop), true);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);
	if (delay_probes) {
		char line[256];
		FILE *h = fopen("/sys/module/" KS_DELAY_MOD "/parameters/hits", "r");

		TEST_ASSERT(h, "open %s hits: %s", KS_DELAY_MOD, strerror(errno));
		while (fgets(line, sizeof(line), h))
			pr_info("  delay probe (symbol, hits, delayed): %s", line);
		fclose(h);
		ks_delay_unload();
	}

	/* Quiescent: the final check sees every last write. */
	kvm_vm_get_dirty_log(vm, HUNT_SLOT, bmap);
	for (p = 0; p < HUNT_PAGES; p++) {
		uint64_t v = peek(hva, p);

		if (v == copy[p])
			continue;
		TEST_ASSERT(test_bit(p, bmap),
			    "final: lost write: page %lu changed (%lu -> %lu) but is not dirty",
			    p, copy[p], v);
		verified++;
	}

	pr_info("lost-write hunt: %lu rounds in %lus (%lu upstream, %lu logging restarts), %lu guest writes\n",
		rounds, (uint64_t)(time(NULL) - t0), upstream, toggles,
		READ_ONCE(writes[0]) + READ_ONCE(writes[1]));
	pr_info("  %lu late marks (bit set after the write was seen), longest %lu us\n",
		late, late_max_us);
	TEST_ASSERT(verified, "no write was ever seen");
	if (stock) {
		pr_info("  %lu changed pages verified dirty, %lu bits cleared (distro KVM, upstream's clear)\n",
			verified, cleared);
		goto out;
	}
	pr_info("  %lu changed pages verified dirty, %lu bits cleared, %lu chunks, %lu 2M mappings split by chunked clears\n",
		verified, cleared, chunks_total,
		vm_get_stat(vm, "split_huge_2m") - split0);
	/*
	 * Every logging restart leaves the slot mapped huge; chunked clears
	 * must have split some of it (none run with -c 0, no restart with -n).
	 */
	if (eager && force_chunk && !no_restarts)
		TEST_ASSERT(vm_get_stat(vm, "split_huge_2m") > split0,
			    "chunked clears never split a huge mapping");
	/*
	 * With kvm.clear_dirty_log_shared (TDP MMU, no nested guest, no PML)
	 * chunked clears re-arm pages under the read lock, their only write
	 * holds being the empty drains; without it they re-arm under the
	 * write lock.  The statistics prove which path the hunt exercised.
	 */
	if (!force_chunk)
		TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_shared_chunks"), 0);
	else if (get_kvm_param_bool("clear_dirty_log_shared"))
		TEST_ASSERT(vm_get_stat(vm, "clear_dirty_shared_chunks"),
			    "no chunk was re-armed under the read lock");
	else
		TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_shared_chunks"), 0);
	TEST_ASSERT(!force_chunk || vm_get_stat(vm, "clear_dirty_max_hold_ns"),
		    "chunked clears never took mmu_lock for write");
	pr_info("  %lu chunks re-armed under mmu_lock held for read, longest write hold %lu ns\n",
		vm_get_stat(vm, "clear_dirty_shared_chunks"),
		vm_get_stat(vm, "clear_dirty_max_hold_ns"));
out:
	kvm_vm_free(vm);
	free(bmap);
	free(clr);
	free(copy);
	free(snap);
}

/* ------------------------------------------------------------------ */
/* 2. The capability's arguments and the module parameter             */
/* ------------------------------------------------------------------ */

#define ARGS_SLOT	1
#define ARGS_GPA	(4ULL << 30)
#define ARGS_PAGES	1024

/* A VM without vCPUs and one logged slot, all bits initially set. */
static struct kvm_vm *args_vm_create(void)
{
	struct kvm_vm *vm = vm_create_barebones();

	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, MANUAL_CAPS);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, ARGS_GPA,
				    ARGS_SLOT, ARGS_PAGES,
				    KVM_MEM_LOG_DIRTY_PAGES);
	return vm;
}

/* Chunks one clear of the whole slot takes: proves the chunk in force. */
static uint64_t chunks_of_whole_clear(struct kvm_vm *vm)
{
	unsigned long *ones = bitmap_zalloc(ARGS_PAGES);
	uint64_t before = vm_get_stat(vm, "clear_dirty_chunks");

	bitmap_fill(ones, ARGS_PAGES);
	clear_log(vm, ARGS_SLOT, ones, 0, ARGS_PAGES);
	free(ones);
	return vm_get_stat(vm, "clear_dirty_chunks") - before;
}

static void assert_chunk_in_force(struct kvm_vm *vm, uint64_t chunk,
				  const char *what)
{
	uint64_t n = chunks_of_whole_clear(vm);

	TEST_ASSERT(n == nr_chunks(0, ARGS_PAGES, chunk),
		    "%s: a whole-slot clear took %lu chunks, expected %lu (chunk %lu)",
		    what, n, nr_chunks(0, ARGS_PAGES, chunk), chunk);
}

static const uint64_t bad_chunks[] = {
	1, 2, 32, 63, 65, 96, 100, 192, 1000, CHUNK_MAX - 64, CHUNK_MAX + 1,
	CHUNK_MAX + 64, CHUNK_MAX << 1, 1ULL << 31, 1ULL << 32, 1ULL << 40,
	1ULL << 62, 1ULL << 63,
	(1ULL << 63) | 64, (1ULL << 63) | 4096, ~0ULL,
};

static void try_bad_cap(struct kvm_vm *vm, uint32_t flags, uint64_t a0,
			uint64_t a1, uint64_t a2, uint64_t a3)
{
	const uint64_t args[4] = { a0, a1, a2, a3 };
	int r = __set_chunk_full(vm, flags, args);

	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "KVM_ENABLE_CAP(flags %#x, args %#lx %#lx %#lx %#lx): %d (%s), expected EINVAL",
		    flags, a0, a1, a2, a3, r, strerror(errno));
}

static char param_saved[64];
static bool param_changed;

static int param_write(const char *val)
{
	int fd = open(PARAM_PATH, O_WRONLY), r;

	TEST_ASSERT(fd >= 0, "open %s: %s", PARAM_PATH, strerror(errno));
	r = write(fd, val, strlen(val));
	close(fd);
	return r < 0 ? -errno : 0;
}

static uint64_t param_read(void)
{
	char buf[64] = "";
	int fd = open(PARAM_PATH, O_RDONLY);

	TEST_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0,
		    "read %s: %s", PARAM_PATH, strerror(errno));
	close(fd);
	return strtoull(buf, NULL, 0);
}

static void param_restore(void)
{
	if (param_changed && param_write(param_saved))
		fprintf(stderr, "cannot restore %s to %s\n", PARAM_PATH,
			param_saved);
	param_changed = false;
}

static void test_module_param(void)
{
	static const char * const bad[] = {
		"1", "32", "63", "65", "100", "192", "4294967296",
		"0x100000000", "2147483712", "-64", "abc", "64k",
		"262145", "262208", "524288", "0x80000000", "2147483648",
	};
	struct kvm_vm *vm, *vm0;
	uint64_t saved;
	unsigned int i;
	int fd, r;

	fd = open(PARAM_PATH, O_RDWR);
	if (fd < 0) {
		pr_info("module parameter: %s not writable (%s), part not run\n",
			PARAM_PATH, strerror(errno));
		return;
	}
	TEST_ASSERT(read(fd, param_saved, sizeof(param_saved) - 1) > 0,
		    "read %s", PARAM_PATH);
	close(fd);
	param_saved[strcspn(param_saved, "\n")] = 0;
	saved = strtoull(param_saved, NULL, 0);
	param_changed = true;
	atexit(param_restore);

	TEST_ASSERT(!param_write("128"), "writing 128 failed");
	TEST_ASSERT_EQ(param_read(), 128);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		r = param_write(bad[i]);
		TEST_ASSERT(r == -EINVAL,
			    "writing '%s' to %s: %d, expected -EINVAL", bad[i],
			    PARAM_PATH, r);
		TEST_ASSERT_EQ(param_read(), 128);
	}

	/* The parameter applies to VMs that never set the capability... */
	vm = args_vm_create();
	assert_chunk_in_force(vm, 128, "module parameter 128");
	TEST_ASSERT(!param_write("262144"), "writing 2^18 failed");
	assert_chunk_in_force(vm, CHUNK_MAX, "module parameter 2^18");
	/* ...and not to those that did, even to 0. */
	vm0 = args_vm_create();
	set_chunk(vm0, 0);
	assert_chunk_in_force(vm0, 0, "capability 0 over parameter 2^18");
	set_chunk(vm, 256);
	TEST_ASSERT(!param_write("64"), "writing 64 failed");
	assert_chunk_in_force(vm, 256, "capability 256 over parameter 64");
	kvm_vm_free(vm0);
	kvm_vm_free(vm);

	param_restore();
	TEST_ASSERT_EQ(param_read(), saved);
	pr_info("module parameter: %zu bad values rejected, precedence checked, restored to %lu\n",
		ARRAY_SIZE(bad), saved);
}

static void test_cap_args(void)
{
	static const uint64_t good[] = { 128, 0, CHUNK_MAX };
	uint64_t chunk;
	struct kvm_vm *vm;
	unsigned int i, j;

	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK), 1);
	vm = args_vm_create();
	TEST_ASSERT_EQ(vm_check_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK), 1);

	/* Whatever the module parameter says, set values take over. */
	for (j = 0; j < ARRAY_SIZE(good); j++) {
		chunk = good[j];
		set_chunk(vm, chunk);
		assert_chunk_in_force(vm, chunk, "valid value");

		for (i = 0; i < ARRAY_SIZE(bad_chunks); i++)
			try_bad_cap(vm, 0, bad_chunks[i], 0, 0, 0);
		for (i = 1; i < 4; i++) {
			try_bad_cap(vm, 0, 64, i == 1, i == 2, i == 3);
			try_bad_cap(vm, 0, 0, i == 1 ? ~0ULL : 0,
				    i == 2 ? 1ULL << 63 : 0, i == 3 ? 64 : 0);
		}
		try_bad_cap(vm, 1, 64, 0, 0, 0);
		try_bad_cap(vm, 1U << 31, 0, 0, 0, 0);
		assert_chunk_in_force(vm, chunk, "after rejected values");
	}

	/* Every valid value, each seen at work. */
	for (i = 6; i <= 18; i++) {
		set_chunk(vm, 1ULL << i);
		assert_chunk_in_force(vm, 1ULL << i, "power of 2");
	}
	kvm_vm_free(vm);
	pr_info("capability: %zu bad values x 3 (2^18 + 1 and up among them), args[1..3] and flags rejected; 64..2^18 accepted\n",
		ARRAY_SIZE(bad_chunks));

	test_module_param();
}

/* ------------------------------------------------------------------ */
/* 3. Dirty ring                                                      */
/* ------------------------------------------------------------------ */

static void test_dirty_ring(void)
{
	unsigned long *bmap = bitmap_zalloc(ARGS_PAGES);
	int order, r;

	if (!kvm_has_cap(KVM_CAP_DIRTY_LOG_RING) &&
	    !kvm_has_cap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL)) {
		pr_info("dirty ring: not supported, part not run\n");
		free(bmap);
		return;
	}

	/* Capability before and after enabling the ring: both accepted. */
	for (order = 0; order < 2; order++) {
		struct kvm_vm *vm = vm_create_barebones();

		if (order)
			set_chunk(vm, 64);
		vm_enable_dirty_ring(vm, 4096 * sizeof(struct kvm_dirty_gfn));
		if (!order)
			set_chunk(vm, 64);
		vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, ARGS_GPA,
					    ARGS_SLOT, ARGS_PAGES,
					    KVM_MEM_LOG_DIRTY_PAGES);

		bitmap_fill(bmap, ARGS_PAGES);
		r = __clear_log(vm, ARGS_SLOT, bmap, 0, ARGS_PAGES);
		TEST_ASSERT(r == -1 && errno == ENXIO,
			    "KVM_CLEAR_DIRTY_LOG with a dirty ring: %d (%s), expected ENXIO",
			    r, strerror(errno));
		set_chunk(vm, 0);
		r = __clear_log(vm, ARGS_SLOT, bmap, 0, ARGS_PAGES);
		TEST_ASSERT(r == -1 && errno == ENXIO,
			    "KVM_CLEAR_DIRTY_LOG with a dirty ring, chunk 0: %d (%s)",
			    r, strerror(errno));
		r = __get_log(vm, ARGS_SLOT, bmap);
		TEST_ASSERT(r == -1 && errno == ENXIO,
			    "KVM_GET_DIRTY_LOG with a dirty ring: %d (%s)",
			    r, strerror(errno));
		TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_chunks"), 0);
		kvm_vm_free(vm);
	}
	free(bmap);
	pr_info("dirty ring: capability accepted before and after the ring, CLEAR fails with ENXIO\n");
}

/* ------------------------------------------------------------------ */
/* 4. Ranges, several slots, address space 1                          */
/* ------------------------------------------------------------------ */

#define ODD_SLOT	1
#define ODD_GPA		(4ULL << 30)
#define ODD_PAGES	1000ULL		/* 15 words + 40 bits */
#define HUGE_SLOT	2
#define HUGE_GPA	(5ULL << 30)
#define HUGE_PAGES	2048ULL		/* 4 x 2M */
#define NR_HUGE		(HUGE_PAGES / PAGES_PER_2M)
#define SMM_ID		3
#define SMM_SLOT	(1U << 16 | SMM_ID)
#define SMM_GPA		(6ULL << 30)
#define SMM_PAGES	320ULL

static void range_guest_code(void)
{
	uint64_t gen, i;

	for (gen = 1;; gen++) {
		for (i = 0; i < ODD_PAGES; i++)
			WRITE_ONCE(*(uint64_t *)(ODD_GPA + i * PAGE_SIZE), gen);
		for (i = 0; i < HUGE_PAGES; i++)
			WRITE_ONCE(*(uint64_t *)(HUGE_GPA + i * PAGE_SIZE), gen);
		GUEST_SYNC(gen);
	}
}

struct tslot {
	uint32_t slot;
	uint64_t npages;
	unsigned long *model;	/* the bits KVM must have */
	unsigned long *got;
};

struct range_ctx {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct tslot slots[3];
	int nr_slots;
	bool eager;
	bool huge[NR_HUGE];	/* huge slot: which 2M mappings are still 2M */
	uint64_t cases, rejected, splits;
};

static void run_pass(struct range_ctx *c)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(c->vcpu, &uc), UCALL_SYNC);
}

/* Fetch every slot's log and compare it with the model, bit by bit. */
static void check_models(struct range_ctx *c, const char *what)
{
	int s;

	for (s = 0; s < c->nr_slots; s++) {
		struct tslot *t = &c->slots[s];
		uint64_t p;

		memset(t->got, 0xaa, BITS_TO_LONGS(t->npages) * 8);
		kvm_vm_get_dirty_log(c->vm, t->slot, t->got);
		for (p = 0; p < t->npages; p++)
			TEST_ASSERT(test_bit(p, t->got) == test_bit(p, t->model),
				    "%s: slot %#x page %lu: dirty %d, expected %d",
				    what, t->slot, p, test_bit(p, t->got),
				    test_bit(p, t->model));
	}
}

/*
 * The 2M mappings of the huge slot a valid clear must split (eager page
 * splitting only), updating c->huge: the mapping around every word with a
 * bit really cleared, chunked (KVM splits ahead of each chunk exactly
 * there) as upstream.
 */
static uint64_t expect_splits(struct range_ctx *c, struct tslot *t,
			      uint64_t first, uint64_t num,
			      const unsigned long *mask)
{
	bool hit[NR_HUGE] = {};
	uint64_t off, cend, q, n = 0;
	int hp;

	if (t->slot != HUGE_SLOT || !c->eager)
		return 0;

	for (off = first; off < first + num; off = cend) {
		bool any = false;

		cend = min(first + num, off + 64);
		for (q = off; q < cend; q++) {
			if (test_bit(q - first, mask) && test_bit(q, t->model))
				any = true;
		}
		for (hp = 0; any && hp < NR_HUGE; hp++) {
			if (hp * PAGES_PER_2M < cend &&
			    (hp + 1) * PAGES_PER_2M > off)
				hit[hp] = true;
		}
	}
	for (hp = 0; hp < NR_HUGE; hp++) {
		if (hit[hp] && c->huge[hp]) {
			c->huge[hp] = false;
			n++;
		}
	}
	return n;
}

/*
 * One KVM_CLEAR_DIRTY_LOG on slot @s with a mask that is empty (@fill 0),
 * full (1) or random (2), bits past the range and the slot's end included,
 * checked against upstream's rules, the chunk count and the models.
 */
static void range_case(struct range_ctx *c, int s, uint64_t chunk,
		       uint64_t first, uint64_t num, int fill)
{
	struct tslot *t = &c->slots[s];
	uint64_t words = (num + 63) / 64 + 1, p, n, b2m, s2m, split;
	unsigned long *mask = calloc(words, 8);
	char what[128];
	bool valid;
	int r;

	TEST_ASSERT(mask, "out of memory");
	for (p = 0; p < words * 64; p++) {
		if (fill == 1 || (fill == 2 && (rnd() & 1)))
			__set_bit(p, mask);
	}

	valid = !(first & 63) && first <= t->npages &&
		num <= t->npages - first &&
		!(num < t->npages - first && (num & 63));

	b2m = vm_get_stat(c->vm, "pages_2m");
	s2m = vm_get_stat(c->vm, "split_huge_2m");
	n = vm_get_stat(c->vm, "clear_dirty_chunks");
	r = __clear_log(c->vm, t->slot, mask, first, num);
	n = vm_get_stat(c->vm, "clear_dirty_chunks") - n;
	s2m = vm_get_stat(c->vm, "split_huge_2m") - s2m;
	b2m -= vm_get_stat(c->vm, "pages_2m");

	snprintf(what, sizeof(what), "slot %#x, chunk %lu, %lu + %lu",
		 t->slot, chunk, first, num);
	c->cases++;
	if (!valid) {
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "%s: %d (%s), expected EINVAL", what, r,
			    strerror(errno));
		TEST_ASSERT(!n && !s2m && !b2m, "%s: rejected but did work",
			    what);
		c->rejected++;
		free(mask);
		check_models(c, what);
		return;
	}
	TEST_ASSERT(!r, "%s: %s", what, strerror(errno));
	TEST_ASSERT(n == nr_chunks(first, num, chunk),
		    "%s: %lu chunks, expected %lu", what, n,
		    nr_chunks(first, num, chunk));

	/* Upstream splits too, but does not count it in split_huge_2m. */
	split = expect_splits(c, t, first, num, mask);
	TEST_ASSERT(s2m == (chunk ? split : 0),
		    "%s: split_huge_2m grew by %lu, expected %lu", what, s2m,
		    chunk ? split : 0);
	TEST_ASSERT(b2m == split, "%s: pages_2m fell by %lu, expected %lu",
		    what, b2m, split);
	c->splits += split;

	for (p = 0; p < num; p++)
		if (test_bit(p, mask))
			__clear_bit(first + p, t->model);
	free(mask);
	check_models(c, what);
}

/* Map everything huge again, set every bit (initially-set). */
static void range_reset(struct range_ctx *c)
{
	int s;

	for (s = 0; s < c->nr_slots; s++)
		vm_mem_region_set_flags(c->vm, c->slots[s].slot, 0);
	run_pass(c);
	for (s = 0; s < c->nr_slots; s++) {
		struct tslot *t = &c->slots[s];

		vm_mem_region_set_flags(c->vm, t->slot, KVM_MEM_LOG_DIRTY_PAGES);
		bitmap_fill(t->model, t->npages);
	}
	for (s = 0; s < NR_HUGE; s++)
		c->huge[s] = true;
	/* Logging with initially-set maps nothing differently. */
	if (c->eager)
		TEST_ASSERT(vm_get_stat(c->vm, "pages_2m") >= NR_HUGE,
			    "the huge slot is not mapped huge: pages_2m %lu",
			    vm_get_stat(c->vm, "pages_2m"));
	check_models(c, "after enabling logging");
}

/* The vCPU writes every page again: every bit must be set again. */
static void range_rewrite(struct range_ctx *c, const char *what)
{
	int s;

	run_pass(c);
	/* Writes under dirty logging map 4K: no 2M mapping is left. */
	for (s = 0; s < NR_HUGE; s++)
		c->huge[s] = false;
	for (s = 0; s < c->nr_slots; s++) {
		struct tslot *t = &c->slots[s];

		/* The SMM slot is not reachable outside SMM. */
		if (t->slot != SMM_SLOT)
			bitmap_fill(t->model, t->npages);
	}
	check_models(c, what);
}

/*
 * A 2M mapping whose pages are all clean stays 2M when userspace clears
 * them again: with eager_page_split off, a clear write-protects the last
 * 2M mapping of the huge slot whole; with it back on, a clear of the same
 * (now clean) pages must split nothing, as upstream splits only around bits
 * it really clears.  The fixed cases after this one then clear around it,
 * and range_rewrite() splits it with the vCPU's writes.
 */
#define EAGER_PARAM	"/sys/module/kvm/parameters/eager_page_split"

/* A failed assert exits with eager_page_split off: turn it back on. */
static void eager_back_on(void)
{
	int fd = open(EAGER_PARAM, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "Y", 1) != 1)
			perror(EAGER_PARAM);
		close(fd);
	}
}

/* range_case() checks that neither clear splits (pages_2m, split_huge_2m). */
static void range_clean_huge(struct range_ctx *c, uint64_t chunk)
{
	const uint64_t last = HUGE_PAGES - PAGES_PER_2M;
	static bool registered;

	if (!registered)
		registered = !atexit(eager_back_on);
	ks_write_param(EAGER_PARAM, "N");
	c->eager = false;
	range_case(c, 1, chunk, last, PAGES_PER_2M, 1);
	ks_write_param(EAGER_PARAM, "Y");
	c->eager = true;
	range_case(c, 1, chunk, last, PAGES_PER_2M, 1);
}

static void range_chunk(struct range_ctx *c, uint64_t chunk)
{
	const uint64_t odd = ODD_PAGES, big = HUGE_PAGES;
	/* { slot index, first, num, fill: 0 none, 1 all, 2 random } */
	const uint64_t cases[][4] = {
		/* rejected */
		{ 0, 32, 64, 1 }, { 0, 1, 64, 1 }, { 0, 0, 100, 1 },
		{ 0, 64, 900, 1 }, { 0, 1024, 0, 1 }, { 0, 960, 64, 1 },
		{ 0, 0, odd + 1, 1 }, { 0, odd, 0, 1 }, { 0, 999, 1, 1 },
		{ 0, ~63ULL, 64, 1 }, { 1, 0, big + 64, 1 },
		{ 1, 2048 + 64, 0, 1 }, { 1, 64, 63, 1 },
		/* accepted */
		{ 0, 0, 0, 1 }, { 0, 960, 0, 1 }, { 1, big, 0, 1 },
		/* the partial last word, ending at the slot's end */
		{ 0, 960, odd - 960, 2 }, { 0, 960, odd - 960, 1 },
		/* a range starting mid-chunk, ending mid-chunk at the end */
		{ 0, 192, 384, 2 }, { 0, 576, odd - 576, 2 },
		/* chunk larger than the range */
		{ 0, 128, 64, 1 },
		/* whole slot, an empty mask: chunks counted, nothing else */
		{ 0, 0, odd, 0 }, { 0, 0, odd, 2 },
		/* the huge slot: one 2M mapping, then none, then two */
		{ 1, 0, 64, 1 }, { 1, 64, 64, 1 }, { 1, 512, 1024, 2 },
		{ 1, 1536, 512, 0 }, { 1, 1600, 448, 2 }, { 1, 0, big, 1 },
	};
	unsigned int i;

	set_chunk(c->vm, chunk);
	range_reset(c);
	if (c->eager)
		range_clean_huge(c, chunk);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		range_case(c, cases[i][0], chunk, cases[i][1], cases[i][2],
			   cases[i][3]);
	if (c->nr_slots > 2) {
		range_case(c, 2, chunk, 64, 128, 2);
		range_case(c, 2, chunk, 0, SMM_PAGES, 2);
		range_case(c, 2, chunk, 32, 64, 1);
		range_case(c, 2, chunk, 0, SMM_PAGES + 64, 1);
	}
	range_rewrite(c, "rewrite after the fixed cases");

	/* Random ranges, valid or not, over the two reachable slots. */
	for (i = 0; i < 60; i++) {
		int s = rnd_below(2);
		uint64_t np = c->slots[s].npages, first, num;

		if (rnd() & 1) {
			first = rnd_below(np / 64 + 2) * 64;
			num = rnd_below(np / 64 + 2) * 64;
			if (rnd() & 1 && first <= np)
				num = np - first;
		} else {
			first = rnd_below(np + 64);
			num = rnd_below(np + 64);
		}
		range_case(c, s, chunk, first, num, 2);
		if (i % 20 == 19)
			range_rewrite(c, "rewrite after random cases");
	}
}

static void test_ranges(void)
{
	const uint64_t chunks[] = { 0, 64, 128, 256, 512, 4096, CHUNK_MAX };
	struct range_ctx c = {};
	const char *smm = "";
	unsigned int i;
	int s;

	c.vm = vm_create_with_one_vcpu(&c.vcpu, range_guest_code);
	vm_enable_cap(c.vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, MANUAL_CAPS);
	vm_userspace_mem_region_add(c.vm, VM_MEM_SRC_ANONYMOUS, ODD_GPA,
				    ODD_SLOT, ODD_PAGES, 0);
	vm_userspace_mem_region_add(c.vm, VM_MEM_SRC_ANONYMOUS_HUGETLB,
				    HUGE_GPA, HUGE_SLOT, HUGE_PAGES, 0);
	/* Only the huge slot may be mapped huge: split counts are exact. */
	TEST_ASSERT(!madvise(addr_gpa2hva(c.vm, ODD_GPA), ODD_PAGES * PAGE_SIZE,
			     MADV_NOHUGEPAGE), "madvise: %s", strerror(errno));
	virt_map(c.vm, ODD_GPA, ODD_GPA, ODD_PAGES);
	virt_map(c.vm, HUGE_GPA, HUGE_GPA, HUGE_PAGES);
	c.slots[0] = (struct tslot){ .slot = ODD_SLOT, .npages = ODD_PAGES };
	c.slots[1] = (struct tslot){ .slot = HUGE_SLOT, .npages = HUGE_PAGES };
	c.nr_slots = 2;
	if (kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE) > 1) {
		vm_userspace_mem_region_add(c.vm, VM_MEM_SRC_ANONYMOUS,
					    SMM_GPA, SMM_SLOT, SMM_PAGES, 0);
		c.slots[2] = (struct tslot){ .slot = SMM_SLOT,
					     .npages = SMM_PAGES };
		c.nr_slots = 3;
	}
	for (s = 0; s < c.nr_slots; s++) {
		c.slots[s].model = bitmap_zalloc(c.slots[s].npages + 64);
		c.slots[s].got = bitmap_zalloc(c.slots[s].npages + 64);
	}
	c.eager = get_kvm_param_bool("eager_page_split") &&
		  get_kvm_param_bool("tdp_mmu");

	/* Bad slots: no such slot, no logging, bad address space or id. */
	{
		unsigned long m[2] = { ~0UL, ~0UL };
		const struct { uint32_t slot; int err; } bad[] = {
			{ 7, ENOENT }, { 0, ENOENT }, { 2U << 16 | 1, EINVAL },
			{ 1U << 16 | 1, ENOENT }, { 0xffff, EINVAL },
			{ 3, ENOENT },
		};

		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			int r = __clear_log(c.vm, bad[i].slot, m, 0, 64);

			TEST_ASSERT(r == -1 && errno == bad[i].err,
				    "CLEAR on slot %#x: %d (%s), expected %s",
				    bad[i].slot, r, strerror(errno),
				    strerror(bad[i].err));
		}
	}

	for (i = 0; i < ARRAY_SIZE(chunks); i++)
		range_chunk(&c, chunks[i]);
	if (c.nr_slots > 2)
		smm = " (one in address space 1)";

	pr_info("ranges: %lu cases (%lu rejected), chunks 0..2^18, %d slots%s; bits, chunks and %lu splits exact\n",
		c.cases, c.rejected, c.nr_slots, smm, c.splits);
	if (!c.eager)
		pr_info("ranges: eager_page_split off, split counts not checked\n");

	for (s = 0; s < c.nr_slots; s++) {
		free(c.slots[s].model);
		free(c.slots[s].got);
	}
	kvm_vm_free(c.vm);
}

static void help(const char *name)
{
	printf("usage: %s [-r rounds] [-t seconds] [-p parts] [-s seed]\n"
	       "       [-c chunk] [-n] [-D probes] [-x]\n"
	       " -r: lost-write hunt rounds (default 12000)\n"
	       " -t: stop the hunt after this many seconds (default 90, 0: none)\n"
	       " -p: parts to run, digits 1-4 (default 1234: hunt, arguments\n"
	       "     and dirty ring, -, ranges)\n"
	       " -s: seed of the host's random choices (default: time and pid)\n"
	       " -c: hunt with this chunk in every round (default: random;\n"
	       "     0: upstream's single pass only, which also runs on the\n"
	       "     distro's KVM: distro_kvm_test.sh, hunt only)\n"
	       " -n: hunt without the logging restarts\n"
	       " -D: load the delay module with these probes for the hunt\n"
	       "     (sym[%%ret]:usecs[:every],...)\n"
	       " -x: negative control: copy pages before clearing them, a VMM\n"
	       "     bug that loses writes; the hunt must then fail\n",
	       name);
	exit(KSFT_FAIL);
}

int main(int argc, char *argv[])
{
	uint64_t rounds = 12000, secs = 90, seed;
	const char *parts = "1234";
	int opt;

	seed = (uint64_t)time(NULL) << 20 ^ getpid();
	while ((opt = getopt(argc, argv, "r:t:p:s:c:nD:xh")) != -1) {
		switch (opt) {
		case 'r':
			rounds = strtoull(optarg, NULL, 0);
			break;
		case 't':
			secs = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			parts = optarg;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'x':
			copy_first = true;
			break;
		case 'c':
			force_chunk = strtoll(optarg, NULL, 0);
			break;
		case 'n':
			no_restarts = true;
			break;
		case 'D':
			delay_probes = optarg;
			break;
		default:
			help(argv[0]);
		}
	}

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2));
	stock = !kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK);
	if (stock) {
		/* The distro's KVM: upstream's clear, the hunt alone. */
		TEST_REQUIRE(force_chunk == 0);
		parts = "1";
	}
	pr_info("seed %#lx (-s to repeat)\n", seed);
	rnd_state = seed | 1;

	if (strchr(parts, '2')) {
		test_cap_args();
		test_dirty_ring();
	}
	if (strchr(parts, '4'))
		test_ranges();
	if (strchr(parts, '1'))
		test_lost_writes(rounds, secs);
	return 0;
}
