// SPDX-License-Identifier: GPL-2.0
/*
 * split_fuzz_test: a seeded fuzzer and stress test of kvm-split's uAPI on
 * live VMs.
 *
 * Two vCPUs keep writing stamps (a write count, the slot and the page) to
 * random pages of up to four test slots; each vCPU owns every other page,
 * checks that a page still holds the stamp it wrote there last before
 * writing the next, and keeps those last stamps in guest memory, where the
 * host reads them as its model of the data.  Meanwhile the host runs
 * random operations, picked by weight from a table, with good and bad
 * arguments:
 *  - KVM_SPLIT_HUGE_PAGES (ranges, slots, sizes, flags, reserved words);
 *  - KVM_ENABLE_CAP of KVM_CAP_MEMSLOT_PAGE_SIZES (EBUSY modelled) and of
 *    KVM_CAP_CLEAR_DIRTY_LOG_CHUNK; KVM_CHECK_EXTENSION;
 *  - memslot create, move, delete and flags updates (KVM_MEM_MAX_PAGE_*,
 *    KVM_MEM_LOG_DIRTY_PAGES), bad ones included, on anonymous, THP,
 *    shmem, 2M hugetlb (private and shared) and 1G hugetlb backings;
 *  - KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG with random ranges and
 *    chunk sizes, as a migrating VMM (manual-protect, with or without
 *    initially-set, chosen per VM);
 *  - the kvm.clear_dirty_log_chunk and kvm.clear_dirty_log_shared module
 *    parameters (restored at exit);
 *  - KVM_PRE_FAULT_MEMORY (from a third vCPU that never runs), where the
 *    kernel has it;
 *  - MMU notifier events on the backing: MADV_DONTNEED, mprotect(), and
 *    munmap() + mmap() (MAP_FIXED over shared memory, which keeps the
 *    data, while the vCPUs run).
 * Operations that change what the guest may touch (slot moves, deletes,
 * private memory dropped or replaced, read-only backing) pause the vCPUs
 * first; the others run under the vCPUs' writes.  A new VM is created
 * every -e operations.
 *
 * Invariants, checked all along; any violation fails with the seed and the
 * operation's index:
 *  - data: every page holds the last stamp its vCPU wrote (checked by the
 *    guest before every write and by the host with the vCPUs paused);
 *    pages the host drops from private memory read zero and the model
 *    says so;
 *  - dirty log: a page that changed since the VMM last copied it (after
 *    the CLEAR of its bit returned) is dirty in the next KVM_GET_DIRTY_LOG
 *    (clear_dirty_log_chunk_test's check), and when logging ends the
 *    destination equals the source with the vCPUs paused
 *    (clear_dirty_log_race_test's VMM loop: GET, CLEAR the bits seen,
 *    copy after the clear);
 *  - the cap: KVM_SPLIT_HUGE_PAGES to the cap's size over a capped slot
 *    splits nothing, i.e. nothing was mapped above the cap (after every
 *    cap change, pre-fault and split, and now and then for every slot),
 *    and pages_1g never exceeds the uncapped 1 GiB slots;
 *  - arguments: a rejected call returns the documented errno and changes
 *    nothing (the split ioctl's arguments, the statistics, the chunk in
 *    force, the enabled flags, the slot);
 *  - statistics: every cumulative or peak statistic of the VM's binary
 *    stats (the descriptors give the type; kvm-split's split_huge_* and
 *    clear_dirty_* are checked to be declared so) never goes backwards,
 *    split_huge_* grow by exactly what KVM_SPLIT_HUGE_PAGES reports, and
 *    clear_dirty_chunks by exactly the chunks of each clear.
 * A kernel WARN is caught by the harness (panic_on_warn); an operation
 * that does not end within 120 s fails (a watchdog thread, which prints
 * the slots and a moment of KVM's MMU trace).
 *
 * Replay: every random choice comes from the seed (each operation has a
 * generator of its own, seeded from the seed and its index), so a seed
 * replays the same sequence of operations with the same arguments; the
 * vCPUs' timing, and so what the dirty log and the data hold at a given
 * operation, is not deterministic.  Which backings are used depends on
 * what the machine offers (THP, free 2M and 1G hugetlb pages), printed at
 * the start.
 *
 * Not covered: nested guests (split_huge_pages_nested_test and, with L2 on
 * nested NPT and so the shadow MMU, split_huge_pages_npt_test cover them),
 * guest_memfd slots, the dirty ring.
 *
 * tests.list runs a CI size (split_fuzz, a random seed each run);
 * "make -C selftests fuzz FUZZ_ARGS='-n 100000 -s <seed>'" a long run.
 *
 *   -n ops    operations (default 3000)
 *   -s seed   seed (default: from the time)
 *   -e ops    operations per VM (default 1000)
 *   -v        print every operation
 *   -P        do not run the pre-fault vCPU after a memslot delete or
 *             move: shows Linux 6.12's KVM_PRE_FAULT_MEMORY hang (see
 *             refresh_prefault_vcpu())
 *   -D probes load the delay module (selftests/kmod) with these probes,
 *             e.g. make_spte%ret:2000, to hold race windows open
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

#define NR_VCPUS	2		/* writing; one more for pre-faults */
#define NR_SLOTS	4		/* test slots 1..NR_SLOTS */
#define BIG_SLOT	NR_SLOTS	/* the one slot that may be 1 GiB */
#define WIN_BASE	(4UL << 30)	/* slots live in 1 GiB windows here */
#define WIN_SIZE	(1UL << 30)
#define NR_WINS		8
#define SZ_2M		(1UL << 21)
#define SZ_1G		(1UL << 30)
#define SMALL_PAGES	((64UL << 20) / 4096)
#define BIG_PAGES	(SZ_1G / 4096)
#define CHUNK_MAX	(1UL << 18)
#define STAMP_MASK	0xffffffULL	/* slot and page */
#define PARAM_DIR	"/sys/module/kvm/parameters/"
#define CAP_MASK	(KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K)
/* The model: a slot of its own (slot 0 is too small for it). */
#define MODEL_SLOT	10
#define MODEL_GPA	(2UL << 30)
#define MODEL_WORDS	((NR_SLOTS - 1) * SMALL_PAGES + BIG_PAGES)
#define MODEL_PAGES	(MODEL_WORDS * 8 / 4096)

/* Host -> guest: the test slots (npages 0: none) and "pause". */
struct gslot {
	uint64_t gpa;
	uint64_t npages;
};

static struct gslot g_slots[NR_SLOTS + 1];
static bool g_pause;
/*
 * Guest -> host: the last stamp written to each page (MODEL_WORDS at
 * MODEL_GPA); writes per vCPU.
 */
static uint64_t *g_last;
static uint64_t g_writes[NR_VCPUS];

static inline uint64_t last_idx(uint64_t s, uint64_t p)
{
	return (s - 1) * SMALL_PAGES + p;
}

/* What a write stores: its count, the slot and the page (never 0). */
static inline uint64_t stamp(uint64_t n, uint64_t s, uint64_t p)
{
	return n << 24 | s << 20 | p;
}

static inline uint64_t xorshift(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	return x ^ (x << 17);
}

/* Check that page @p of slot @s holds what it was last given; stamp it. */
static void guest_write(uint32_t id, uint64_t s, uint64_t gpa, uint64_t p,
			uint64_t n)
{
	uint64_t *mem = (uint64_t *)(gpa + p * PAGE_SIZE);
	uint64_t v = READ_ONCE(*mem);

	ks_guest_assert(v == g_last[last_idx(s, p)],
			"slot %lu page %lu holds %#lx, vCPU %u wrote %#lx",
			s, p, v, id, g_last[last_idx(s, p)]);
	v = stamp(n, s, p);
	WRITE_ONCE(*mem, v);
	g_last[last_idx(s, p)] = v;
}

/* Bursts of GUEST_BURST writes to this vCPU's pages of a random slot. */
#define GUEST_BURST	8

static void guest_code(uint32_t id, uint64_t seed)
{
	uint64_t x = seed | 1, n = 0;

	for (;;) {
		uint64_t s, p, npages, gpa, i;

		if (READ_ONCE(g_pause)) {
			GUEST_SYNC(n);
			continue;
		}
		x = xorshift(x);
		s = 1 + x % NR_SLOTS;
		npages = READ_ONCE(g_slots[s].npages);
		if (npages < NR_VCPUS)
			continue;
		gpa = READ_ONCE(g_slots[s].gpa);
		p = (x >> 16) % (npages / NR_VCPUS) * NR_VCPUS + id;
		for (i = 0; i < GUEST_BURST && p < npages; i++, p += NR_VCPUS)
			guest_write(id, s, gpa, p, ++n);
		WRITE_ONCE(g_writes[id], n);
	}
}

/* The pre-fault vCPU: one exit per run (see refresh_prefault_vcpu()). */
static void spare_code(void)
{
	for (;;)
		GUEST_SYNC(0);
}

/* ------------------------------------------------------------------ */
/* Random numbers, the failure report                                 */
/* ------------------------------------------------------------------ */

static uint64_t seed;
static uint64_t op_nr;
static const char *op_name = "setup";
static bool verbose, finished, no_refresh;
static const char *delay_probes;
static uint64_t rng;

/* splitmix64: each operation has its own generator (op_seed()). */
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void op_seed(uint64_t stream, uint64_t nr)
{
	rng = seed ^ stream << 56 ^ nr * 0xd1342543de82ef95ULL;
	rnd();
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool one_in(uint64_t n)
{
	return !rnd_below(n);
}

#define FUZZ_ASSERT(cond, fmt, args...)					\
	TEST_ASSERT(cond, "seed %lu op %lu (%s): " fmt, seed, op_nr,	\
		    op_name, ##args)

/* @r, errno: what a call returned; @err: the errno due, 0 for success. */
static void expect_errno(int r, int err, const char *what)
{
	int e = r ? errno : 0;

	FUZZ_ASSERT(err ? r == -1 && e == err : !r,
		    "%s: r = %d errno %d (%s), expected %d (%s)", what, r, e,
		    strerror(e), err, strerror(err));
}

/* ------------------------------------------------------------------ */
/* The VM and the host's model                                        */
/* ------------------------------------------------------------------ */

struct slot {
	bool live;
	enum vm_mem_backing_src_type src;
	uint64_t gpa, npages;
	uint32_t flags;
	/* While KVM_MEM_LOG_DIRTY_PAGES: the destination, bits seen. */
	uint64_t *dest;
	unsigned long *seen, *bmap;
};

struct stats {
	int fd;
	struct kvm_stats_header h;
	struct kvm_stats_desc *desc;
	size_t desc_size, nr_words;
	uint64_t *prev, *cur;
};

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpus[NR_VCPUS + 1];
static pthread_t threads[NR_VCPUS];
static struct slot slots[NR_SLOTS + 1];
static struct stats st;
static struct gslot *h_slots;
static uint64_t *h_last, *h_writes;
static bool *h_pause;
static uint64_t slot0_pages;
static bool roots_obsolete;	/* a memslot was deleted or moved */

static uint32_t page_sizes;	/* KVM_CAP_MEMSLOT_PAGE_SIZES enabled */
static int64_t vm_chunk;	/* KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, -1: unset */
static bool initially_set;

/* What the machine offers, found once: the sequence depends on it. */
static bool have_prefault, have_thp, have_2m, have_1g;
static bool param_writable;
static uint64_t param_chunk;
static char saved_chunk[32], saved_shared[8];

static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static int nr_paused;
static bool host_pause, vcpus_stop;

static uint64_t total_writes, counts[32];
/* What the invariants saw: evidence that the run exercised them. */
static uint64_t nr_seen_dirty, nr_copied, nr_split_2m, nr_split_1g, nr_chunks_done;
static double op_secs[32];

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			FUZZ_ASSERT(0, "vCPU %u: unexpected exit %s", vcpu->id,
				    exit_reason_str(vcpu->run->exit_reason));
		}
		pthread_mutex_lock(&pause_lock);
		nr_paused++;
		pthread_cond_broadcast(&pause_cond);
		while (host_pause && !vcpus_stop)
			pthread_cond_wait(&pause_cond, &pause_lock);
		nr_paused--;
		pthread_mutex_unlock(&pause_lock);
		if (READ_ONCE(vcpus_stop))
			return NULL;
	}
}

/* Get every vCPU out of KVM_RUN and keep it out until resume_vcpus(). */
static void pause_vcpus(void)
{
	WRITE_ONCE(*h_pause, true);
	pthread_mutex_lock(&pause_lock);
	host_pause = true;
	while (nr_paused < NR_VCPUS)
		pthread_cond_wait(&pause_cond, &pause_lock);
	pthread_mutex_unlock(&pause_lock);
}

static void resume_vcpus(void)
{
	pthread_mutex_lock(&pause_lock);
	host_pause = false;
	WRITE_ONCE(*h_pause, false);
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                         */
/* ------------------------------------------------------------------ */

static struct kvm_stats_desc *stat_desc(int i)
{
	return (void *)((char *)st.desc + i * st.desc_size);
}

static void stats_read(uint64_t *data)
{
	ssize_t n = pread(st.fd, data, st.nr_words * 8, st.h.data_offset);

	FUZZ_ASSERT(n == (ssize_t)(st.nr_words * 8), "stats read: %s",
		    strerror(errno));
}

static int stat_index(const char *name)
{
	int i;

	for (i = 0; i < st.h.num_desc; i++)
		if (!strcmp(stat_desc(i)->name, name))
			return i;
	FUZZ_ASSERT(0, "no statistic %s", name);
	return -1;
}

static uint64_t stat(const char *name)
{
	stats_read(st.cur);
	return st.cur[stat_desc(stat_index(name))->offset / 8];
}

static void stats_init(void)
{
	static const char * const cumulative[] = {
		"split_huge_2m", "split_huge_1g", "split_huge_failed",
		"clear_dirty_chunks", "clear_dirty_shared_chunks",
	};
	size_t size;
	int i;

	st.fd = vm_get_stats_fd(vm);
	FUZZ_ASSERT(pread(st.fd, &st.h, sizeof(st.h), 0) == sizeof(st.h),
		    "stats header");
	st.desc_size = sizeof(*st.desc) + st.h.name_size;
	size = st.desc_size * st.h.num_desc;
	st.desc = malloc(size);
	FUZZ_ASSERT(st.desc && pread(st.fd, st.desc, size, st.h.desc_offset) ==
		    (ssize_t)size, "stats descriptors");
	st.nr_words = 0;
	for (i = 0; i < st.h.num_desc; i++)
		st.nr_words = max(st.nr_words, (size_t)(stat_desc(i)->offset / 8 +
							stat_desc(i)->size));
	st.prev = calloc(st.nr_words, 8);
	st.cur = calloc(st.nr_words, 8);
	stats_read(st.prev);

	for (i = 0; i < ARRAY_SIZE(cumulative); i++)
		FUZZ_ASSERT((stat_desc(stat_index(cumulative[i]))->flags &
			     KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE,
			    "%s is not declared cumulative", cumulative[i]);
	FUZZ_ASSERT((stat_desc(stat_index("clear_dirty_max_hold_ns"))->flags &
		     KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_PEAK,
		    "clear_dirty_max_hold_ns is not declared a peak");
}

static void stats_free(void)
{
	close(st.fd);
	free(st.desc);
	free(st.prev);
	free(st.cur);
}

/*
 * Counters and peaks never go backwards; gauges are left alone, except
 * that they must not have wrapped below zero, and no 1 GiB mapping may
 * exist beyond the uncapped 1 GiB hugetlb slots.
 */
static void stats_check(void)
{
	uint64_t max_1g = 0;
	int i, j, s;

	stats_read(st.cur);
	for (i = 0; i < st.h.num_desc; i++) {
		struct kvm_stats_desc *d = stat_desc(i);
		uint32_t type = d->flags & KVM_STATS_TYPE_MASK;

		for (j = 0; j < d->size; j++) {
			uint64_t old = st.prev[d->offset / 8 + j];
			uint64_t new = st.cur[d->offset / 8 + j];

			if (type == KVM_STATS_TYPE_CUMULATIVE ||
			    type == KVM_STATS_TYPE_PEAK)
				FUZZ_ASSERT(new >= old, "statistic %s[%d] went back: %lu -> %lu",
					    d->name, j, old, new);
			if (!strncmp(d->name, "pages_", 6))
				FUZZ_ASSERT(new < 1ULL << 40, "gauge %s is %#lx",
					    d->name, new);
		}
	}
	memcpy(st.prev, st.cur, st.nr_words * 8);

	for (s = 1; s <= NR_SLOTS; s++)
		max_1g += slots[s].live && !(slots[s].flags & CAP_MASK) &&
			  slots[s].src == VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB;
	FUZZ_ASSERT(st.cur[stat_desc(stat_index("pages_1g"))->offset / 8] <= max_1g,
		    "%lu 1G mappings, %lu uncapped 1G slots",
		    st.cur[stat_desc(stat_index("pages_1g"))->offset / 8], max_1g);
}

/* ------------------------------------------------------------------ */
/* Slots: data, the cap                                               */
/* ------------------------------------------------------------------ */

/*
 * The framework's gpa lookup (addr_gpa2hva()) does not follow
 * vm_mem_region_move(): go by the slot.
 */
static uint64_t *slot_hva(int s)
{
	return memslot2region(vm, s)->host_mem;
}

static void *page_hva(int s, uint64_t p)
{
	return (char *)slot_hva(s) + p * PAGE_SIZE;
}

static uint64_t peek(uint64_t *hva, uint64_t p)
{
	return READ_ONCE(hva[p * PAGE_SIZE / 8]);
}

static uint64_t backing_pages(int s)
{
	return get_backing_src_pagesz(slots[s].src) / PAGE_SIZE;
}

static bool backing_keeps_data(int s)
{
	return backing_src_is_shared(slots[s].src);
}

/* With the vCPUs paused: every page holds its model value. */
static void check_data(int s)
{
	uint64_t *hva = slot_hva(s), p, v, want;

	for (p = 0; p < slots[s].npages; p++) {
		v = peek(hva, p);
		want = h_last[last_idx(s, p)];
		FUZZ_ASSERT(v == want, "slot %d page %lu holds %#lx, the model %#lx",
			    s, p, v, want);
		FUZZ_ASSERT(!v || (v & STAMP_MASK) == ((uint64_t)s << 20 | p),
			    "slot %d page %lu holds a stamp of slot %lu page %lu",
			    s, p, (v >> 20) & 15, v & 0xfffff);
	}
}

/* The host dropped the data of pages [first, first + n) of slot @s. */
static void model_zero(int s, uint64_t first, uint64_t n)
{
	uint64_t p;

	for (p = first; p < first + n; p++) {
		h_last[last_idx(s, p)] = 0;
		if (slots[s].dest)
			slots[s].dest[p] = 0;
	}
}

static int __split(uint32_t slot, uint64_t first, uint64_t num,
		   uint64_t size, uint64_t *split)
{
	struct kvm_split_huge_pages a = {
		.slot = slot, .first_page = first, .num_pages = num,
		.page_size = size,
	};
	int r;

	do {
		uint64_t left = a.num_pages;

		r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &a);
		if (r)
			break;
		FUZZ_ASSERT(!left || a.num_pages < left,
			    "KVM_SPLIT_HUGE_PAGES returned 0 without progress");
		FUZZ_ASSERT(a.first_page + a.num_pages == first + num,
			    "KVM_SPLIT_HUGE_PAGES moved the end of the range");
	} while (a.num_pages);
	*split = a.split;
	return r;
}

/* Nothing of slot @s is mapped above its cap: a split to it finds none. */
static void check_cap(int s)
{
	uint32_t cap = slots[s].flags & CAP_MASK;
	uint64_t split;
	int r;

	if (!slots[s].live || !cap)
		return;
	r = __split(s, 0, slots[s].npages,
		    cap == KVM_MEM_MAX_PAGE_4K ? PAGE_SIZE : SZ_2M, &split);
	expect_errno(r, 0, "cap check split");
	FUZZ_ASSERT(!split, "slot %d capped at %s had %lu mappings above the cap",
		    s, cap == KVM_MEM_MAX_PAGE_4K ? "4K" : "2M", split);
}

static void publish(int s)
{
	WRITE_ONCE(h_slots[s].gpa, slots[s].live ? slots[s].gpa : 0);
	WRITE_ONCE(h_slots[s].npages, slots[s].live ? slots[s].npages : 0);
}

/* ------------------------------------------------------------------ */
/* The dirty log, as a migrating VMM                                  */
/* ------------------------------------------------------------------ */

static bool logging(int s)
{
	return slots[s].live && (slots[s].flags & KVM_MEM_LOG_DIRTY_PAGES);
}

/* Logging was just enabled: the first full copy, taken after. */
static void log_start(int s)
{
	uint64_t *hva = slot_hva(s), p, n = slots[s].npages;

	slots[s].dest = calloc(n, 8);
	slots[s].seen = bitmap_zalloc(n);
	slots[s].bmap = bitmap_zalloc(n);
	FUZZ_ASSERT(slots[s].dest && slots[s].seen && slots[s].bmap, "ENOMEM");
	for (p = 0; p < n; p++)
		slots[s].dest[p] = peek(hva, p);
}

static void log_free(int s)
{
	free(slots[s].dest);
	free(slots[s].seen);
	free(slots[s].bmap);
	slots[s].dest = NULL;
	slots[s].seen = slots[s].bmap = NULL;
}

/*
 * KVM_GET_DIRTY_LOG; every page that changed since its copy was taken
 * (after the clear of its bit returned) must be dirty.  A snapshot taken
 * before the fetch: a change seen there was written before the fetch.
 */
static void log_get(int s)
{
	struct slot *sl = &slots[s];
	uint64_t *hva = slot_hva(s), *snap = malloc(sl->npages * 8), p;

	FUZZ_ASSERT(snap, "ENOMEM");
	for (p = 0; p < sl->npages; p++)
		snap[p] = peek(hva, p);
	kvm_vm_get_dirty_log(vm, s, sl->bmap);
	for (p = 0; p < sl->npages; p++) {
		if (snap[p] != sl->dest[p]) {
			FUZZ_ASSERT(test_bit(p, sl->bmap),
				    "lost write: slot %d page %lu changed (%#lx -> %#lx) but is not dirty",
				    s, p, sl->dest[p], snap[p]);
			nr_seen_dirty++;
		}
		if (test_bit(p, sl->bmap))
			__set_bit(p, sl->seen);
	}
	free(snap);
}

/*
 * With the vCPUs paused: fetch and copy what is dirty; the destination
 * must equal the source.  The bits stay set (seen).
 */
static void log_verify(int s)
{
	struct slot *sl = &slots[s];
	uint64_t *hva = slot_hva(s), p;

	log_get(s);
	for (p = 0; p < sl->npages; p++) {
		if (test_bit(p, sl->seen))
			sl->dest[p] = peek(hva, p);
		FUZZ_ASSERT(sl->dest[p] == peek(hva, p),
			    "lost write: slot %d page %lu is %#lx, the destination %#lx",
			    s, p, peek(hva, p), sl->dest[p]);
	}
}

/* Chunks a clear of [first, first + num) counts (clear_dirty_log_chunk_test). */
static uint64_t nr_chunks(uint64_t first, uint64_t num, uint64_t chunk)
{
	if (!chunk || !num)
		return 0;
	return (first + num - 1) / chunk - first / chunk + 1;
}

static uint64_t chunk_in_force(void)
{
	return vm_chunk >= 0 ? vm_chunk : param_chunk;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

/* A live test slot, or 0 if there is none. */
static int pick_live(void)
{
	int s, i = rnd_below(NR_SLOTS);

	for (s = 0; s < NR_SLOTS; s++)
		if (slots[1 + (i + s) % NR_SLOTS].live)
			return 1 + (i + s) % NR_SLOTS;
	return 0;
}

static int pick_logged(void)
{
	int s, i = rnd_below(NR_SLOTS);

	for (s = 0; s < NR_SLOTS; s++)
		if (logging(1 + (i + s) % NR_SLOTS))
			return 1 + (i + s) % NR_SLOTS;
	return 0;
}

/* A slot id with the errno GET/CLEAR_DIRTY_LOG give it before the range. */
static uint32_t pick_log_slot(int *err)
{
	uint32_t slot;
	int s = pick_logged();

	switch (rnd_below(8)) {
	case 0:
		slot = rnd_below(NR_SLOTS + 1);	/* maybe not logging */
		break;
	case 1:
		slot = one_in(2) ? 2U << 16 | 1 : 0xffff;	/* EINVAL */
		*err = EINVAL;
		return slot;
	case 2:
		slot = 1U << 16 | rnd_below(NR_SLOTS + 1);	/* SMM: none */
		*err = ENOENT;
		return slot;
	default:
		slot = s;
	}
	*err = (slot && slot <= NR_SLOTS && logging(slot)) ? 0 : ENOENT;
	return slot;
}

static void op_get_log(void)
{
	static unsigned long junk[BIG_PAGES / 64];
	struct kvm_dirty_log log = {};
	uint32_t slot;
	int err, r;

	slot = pick_log_slot(&err);
	if (!err) {
		log_get(slot);
		return;
	}
	log.slot = slot;
	log.dirty_bitmap = junk;	/* must not be written */
	r = __vm_ioctl(vm, KVM_GET_DIRTY_LOG, &log);
	expect_errno(r, err, "KVM_GET_DIRTY_LOG");
}

/*
 * KVM_CLEAR_DIRTY_LOG of a random range (64-aligned, or not, to test the
 * rules) of the bits seen, plus now and then some never seen, in the
 * chunk in force; then the copy of every page cleared.
 */
static void op_clear_log(void)
{
	struct kvm_clear_dirty_log args = {};
	uint64_t first, num, npages, p, chunks;
	unsigned long *mask;
	uint32_t slot;
	int err, r;
	struct slot *sl;

	slot = pick_log_slot(&err);
	sl = &slots[(uint16_t)slot <= NR_SLOTS && !(slot >> 16) ? slot : 0];
	npages = sl->live ? sl->npages : 1024;
	switch (rnd_below(4)) {
	case 0:
		first = 0;
		num = npages;
		break;
	case 1:
		first = rnd_below(npages / 64 + 1) * 64;
		num = npages - min(first, npages);
		break;
	default:
		first = rnd_below(npages / 64 + 1) * 64;
		num = rnd_below((npages - min(first, npages)) / 64 + 1) * 64;
		break;
	}
	if (one_in(16))
		first += 1 + rnd_below(63);
	if (one_in(16))
		num += 1 + rnd_below(63);
	if (one_in(32))
		num = rnd() >> rnd_below(64);
	num = (uint32_t)num;
	if (!err && ((first & 63) || first > npages || num > npages - first ||
		     (num < npages - first && (num & 63))))
		err = EINVAL;
	if ((slot >> 16) < 2 && (uint16_t)slot < 0xffff && (first & 63))
		err = EINVAL;	/* checked before the slot */

	mask = bitmap_zalloc(err ? 64 : num + 64);
	FUZZ_ASSERT(mask, "ENOMEM");
	for (p = 0; !err && p < num; p++)
		if (test_bit(first + p, sl->seen) ? !one_in(8) : one_in(64))
			__set_bit(p, mask);

	args.slot = slot;
	args.first_page = first;
	args.num_pages = num;
	args.dirty_bitmap = mask;
	chunks = stat("clear_dirty_chunks");
	r = __vm_ioctl(vm, KVM_CLEAR_DIRTY_LOG, &args);
	expect_errno(r, err, "KVM_CLEAR_DIRTY_LOG");
	chunks = stat("clear_dirty_chunks") - chunks;
	FUZZ_ASSERT(chunks == (err ? 0 : nr_chunks(first, num, chunk_in_force())),
		    "clear of %lu + %lu (slot %#x, chunk %lu, errno %d): %lu chunks",
		    first, num, slot, chunk_in_force(), err, chunks);
	if (!err) {
		uint64_t *hva = slot_hva(slot);

		for (p = 0; p < num; p++) {
			if (!test_bit(p, mask))
				continue;
			sl->dest[first + p] = peek(hva, first + p);
			__clear_bit(first + p, sl->seen);
			nr_copied++;
		}
	}
	free(mask);
}

/* The pages of memslot @slot (as_id << 16 | id), 0 if there is none. */
static uint64_t slot_size(uint32_t slot)
{
	if (slot == 0)
		return slot0_pages;
	if (slot == MODEL_SLOT)
		return MODEL_PAGES;
	if (slot <= NR_SLOTS && slots[slot].live)
		return slots[slot].npages;
	return 0;
}

static void op_split(void)
{
	static const uint64_t sizes[] = { PAGE_SIZE, PAGE_SIZE, SZ_2M, SZ_2M,
					  0, SZ_1G, 8192, SZ_2M + PAGE_SIZE };
	struct kvm_split_huge_pages a = {}, in;
	uint64_t npages, end, before, split;
	bool valid;
	int s, r, i;

	s = one_in(8) ? 0 : (one_in(8) ? 1 + rnd_below(NR_SLOTS) : pick_live());
	a.slot = s;
	if (one_in(16))
		a.slot = rnd_below(4) << 16 | rnd_below(NR_SLOTS + 2);
	else if (one_in(32))
		a.slot = rnd();
	npages = slot_size(s);
	a.first_page = rnd_below(npages + 1);
	a.num_pages = rnd_below(npages - a.first_page + 2);
	if (one_in(4)) {
		/* Around 2M and 1G boundaries. */
		a.first_page = a.first_page & ~511ULL;
		a.num_pages = 512 * (1 + rnd_below(4));
		if (a.num_pages > npages - a.first_page)
			a.num_pages = npages - a.first_page;
	}
	if (one_in(16))
		a.first_page = rnd();
	if (one_in(16))
		a.num_pages = rnd() >> rnd_below(64);
	a.page_size = sizes[rnd_below(ARRAY_SIZE(sizes))];
	if (one_in(32))
		a.flags = 1U << rnd_below(32);
	for (i = 0; i < ARRAY_SIZE(a.reserved); i++)
		if (one_in(64))
			a.reserved[i] = rnd() | 1;
	a.split = rnd_below(1000);

	valid = !a.flags && !a.reserved[0] && !a.reserved[1] &&
		!a.reserved[2] &&
		(a.page_size == PAGE_SIZE || a.page_size == SZ_2M) &&
		slot_size(a.slot) &&
		!__builtin_add_overflow(a.first_page, a.num_pages, &end) &&
		end <= slot_size(a.slot);

	before = stat("split_huge_2m") + stat("split_huge_1g");
	in = a;
	if (valid) {
		r = __split(a.slot, a.first_page, a.num_pages, a.page_size, &split);
		expect_errno(r, 0, "KVM_SPLIT_HUGE_PAGES (valid)");
		/* __split() starts from 0: what it reports, the stats count. */
		FUZZ_ASSERT(stat("split_huge_2m") + stat("split_huge_1g") - before == split,
			    "split %lu, the stats counted %lu", split,
			    stat("split_huge_2m") + stat("split_huge_1g") - before);
		if (a.slot && (slots[a.slot].flags & KVM_MEM_MAX_PAGE_4K))
			FUZZ_ASSERT(!split, "split %lu mappings of a slot capped at 4K",
				    split);
		if (a.slot && (slots[a.slot].flags & KVM_MEM_MAX_PAGE_2M) &&
		    a.page_size == SZ_2M)
			FUZZ_ASSERT(!split, "split %lu 1G mappings of a slot capped at 2M",
				    split);
		return;
	}
	r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &a);
	expect_errno(r, EINVAL, "KVM_SPLIT_HUGE_PAGES (invalid)");
	FUZZ_ASSERT(!memcmp(&a, &in, sizeof(a)), "a rejected split changed its arguments");
	FUZZ_ASSERT(stat("split_huge_2m") + stat("split_huge_1g") == before,
		    "a rejected call split mappings");
}

static bool chunk_valid(uint64_t c)
{
	return !c || (!(c & (c - 1)) && c >= 64 && c <= CHUNK_MAX);
}

static void op_chunk_cap(void)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_CLEAR_DIRTY_LOG_CHUNK };
	bool valid;
	int r;

	cap.args[0] = one_in(6) ? 0 : 1UL << (6 + rnd_below(13));
	switch (rnd_below(6)) {
	case 0:
		cap.args[0] = rnd() >> rnd_below(64);
		break;
	case 1:
		cap.args[0] += one_in(2) ? 1 : CHUNK_MAX;
		break;
	case 2:
		cap.args[1 + rnd_below(3)] = 1ULL << rnd_below(64);
		break;
	case 3:
		cap.flags = 1U << rnd_below(32);
		break;
	}
	valid = chunk_valid(cap.args[0]) && !cap.flags && !cap.args[1] &&
		!cap.args[2] && !cap.args[3];
	r = __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
	expect_errno(r, valid ? 0 : EINVAL, "KVM_ENABLE_CAP(CLEAR_DIRTY_LOG_CHUNK)");
	if (valid)
		vm_chunk = cap.args[0];
}

static bool flags_in_use(uint32_t flags)
{
	int s;

	for (s = 1; s <= NR_SLOTS; s++)
		if (slots[s].live && (slots[s].flags & flags))
			return true;
	return false;
}

static void op_page_sizes_cap(void)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MEMSLOT_PAGE_SIZES };
	int err = 0, r;

	cap.args[0] = rnd_below(4) << 14;
	if (one_in(8))
		cap.args[0] |= 1ULL << rnd_below(64);
	else if (one_in(8))
		cap.args[1 + rnd_below(3)] = 1;
	else if (one_in(16))
		cap.flags = 1;
	if (cap.flags || cap.args[1] || cap.args[2] || cap.args[3] ||
	    (cap.args[0] & ~(uint64_t)CAP_MASK))
		err = EINVAL;
	else if (flags_in_use(page_sizes & ~cap.args[0]))
		err = EBUSY;
	r = __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
	expect_errno(r, err, "KVM_ENABLE_CAP(MEMSLOT_PAGE_SIZES)");
	if (!err)
		page_sizes = cap.args[0];
}

static void op_check_extension(void)
{
	FUZZ_ASSERT(vm_check_cap(vm, KVM_CAP_SPLIT_HUGE_PAGES) == (PAGE_SIZE | SZ_2M),
		    "KVM_CAP_SPLIT_HUGE_PAGES");
	FUZZ_ASSERT(vm_check_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES) == CAP_MASK,
		    "KVM_CAP_MEMSLOT_PAGE_SIZES");
	FUZZ_ASSERT(vm_check_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK) == 1,
		    "KVM_CAP_CLEAR_DIRTY_LOG_CHUNK");
}

/* Random memslot flags; bad ones now and then.  Returns the errno due. */
static uint32_t pick_flags(int *err)
{
	static const uint32_t caps[] = { 0, 0, KVM_MEM_MAX_PAGE_2M,
					 KVM_MEM_MAX_PAGE_4K };
	uint32_t flags = caps[rnd_below(4)];

	if (one_in(3))
		flags |= KVM_MEM_LOG_DIRTY_PAGES;
	if (one_in(24))
		flags |= CAP_MASK;
	if (one_in(32))
		flags |= 1U << 13;
	*err = ((flags & CAP_MASK) == CAP_MASK || (flags & 1U << 13) ||
		(flags & CAP_MASK & ~page_sizes)) ? EINVAL : 0;
	return flags;
}

/* Logging ends for slot @s: with the vCPUs paused, nothing may be lost. */
static void log_end(int s)
{
	log_verify(s);
	log_free(s);
}

static void op_set_flags(void)
{
	int s = pick_live(), err, r;
	uint32_t flags, old;
	bool stop_log;

	if (!s)
		return;
	old = slots[s].flags;
	flags = pick_flags(&err);
	stop_log = !err && (old & ~flags & KVM_MEM_LOG_DIRTY_PAGES);
	if (stop_log) {
		pause_vcpus();
		log_end(s);
	}
	if (err) {
		r = __vm_set_user_memory_region(vm, s, flags, slots[s].gpa,
						slots[s].npages * PAGE_SIZE,
						slot_hva(s));
		expect_errno(r, err, "flags update");
	} else {
		vm_mem_region_set_flags(vm, s, flags);
		slots[s].flags = flags;
	}
	if (stop_log)
		resume_vcpus();
	if (!err && (flags & ~old & KVM_MEM_LOG_DIRTY_PAGES))
		log_start(s);
	check_cap(s);
}

/*
 * A 1 GiB window no live slot uses (so a move always moves), and an
 * offset in it aligned to the backing's page size.
 */
static uint64_t pick_gpa(uint64_t npages, enum vm_mem_backing_src_type src)
{
	uint64_t align = get_backing_src_pagesz(src), gpa = 0, off;
	int w, i, t;

	for (i = rnd_below(NR_WINS), t = 0; t < NR_WINS; t++, i = (i + 1) % NR_WINS) {
		bool busy = false;

		gpa = WIN_BASE + i * WIN_SIZE;
		for (w = 1; w <= NR_SLOTS; w++)
			busy |= slots[w].live &&
				slots[w].gpa / WIN_SIZE == gpa / WIN_SIZE;
		if (!busy)
			break;
	}
	off = rnd_below((WIN_SIZE - npages * PAGE_SIZE) / align + 1);
	if (!one_in(4))
		off = min(off, (64 * SZ_2M) / align);
	return gpa + off * align;
}

static enum vm_mem_backing_src_type pick_src(int s)
{
	static const enum vm_mem_backing_src_type srcs[] = {
		VM_MEM_SRC_ANONYMOUS, VM_MEM_SRC_SHMEM, VM_MEM_SRC_ANONYMOUS_THP,
		VM_MEM_SRC_ANONYMOUS_HUGETLB, VM_MEM_SRC_SHARED_HUGETLB,
		VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB,
	};
	enum vm_mem_backing_src_type src = srcs[rnd_below(ARRAY_SIZE(srcs))];

	if ((src == VM_MEM_SRC_ANONYMOUS_THP && !have_thp) ||
	    ((src == VM_MEM_SRC_ANONYMOUS_HUGETLB ||
	      src == VM_MEM_SRC_SHARED_HUGETLB) && !have_2m) ||
	    (src == VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB && (!have_1g || s != BIG_SLOT)))
		src = one_in(2) ? VM_MEM_SRC_ANONYMOUS : VM_MEM_SRC_SHMEM;
	return src;
}

static void op_create(void)
{
	int s = 1 + rnd_below(NR_SLOTS), err, r;
	enum vm_mem_backing_src_type src;
	uint64_t npages, gpa;
	uint32_t flags;

	if (slots[s].live) {
		/* A new slot over a live one's memory: EEXIST. */
		int o = s;

		for (s = 1; s <= NR_SLOTS && slots[s].live; s++)
			;
		if (s > NR_SLOTS)
			return;
		r = __vm_set_user_memory_region(vm, s, 0, slots[o].gpa,
						PAGE_SIZE, slot_hva(o));
		expect_errno(r, EEXIST, "overlapping create");
		return;
	}
	src = pick_src(s);
	if (src == VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB)
		npages = BIG_PAGES;
	else if (src == VM_MEM_SRC_ANONYMOUS || src == VM_MEM_SRC_SHMEM)
		npages = 1 + rnd_below(one_in(2) ? 1024 : SMALL_PAGES);
	else
		npages = 512 * (1 + rnd_below(SMALL_PAGES / 512));
	gpa = pick_gpa(npages, src);
	flags = pick_flags(&err);
	if (err) {
		void *mem = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		r = __vm_set_user_memory_region(vm, s, flags, gpa, PAGE_SIZE, mem);
		expect_errno(r, err, "create with bad flags");
		munmap(mem, PAGE_SIZE);
		return;
	}
	vm_userspace_mem_region_add(vm, src, gpa, s, npages, flags);
	/*
	 * KVM's faults get no THP from this kernel: back THP slots with huge
	 * pages from userspace, as a VMM that preallocates does (zeroes: the
	 * model is unchanged).
	 */
	if (src == VM_MEM_SRC_ANONYMOUS_THP)
		memset(memslot2region(vm, s)->host_mem, 0, npages * PAGE_SIZE);
	slots[s] = (struct slot){ .live = true, .src = src, .gpa = gpa,
				  .npages = npages, .flags = flags };
	if (flags & KVM_MEM_LOG_DIRTY_PAGES)
		log_start(s);
	publish(s);
	if (verbose)
		pr_info("  slot %d: %s, %lu pages at %#lx, flags %#x\n", s,
			vm_mem_backing_src_alias(src)->name, npages, gpa, flags);
}

static void op_delete(void)
{
	int s = pick_live();

	if (!s)
		return;
	pause_vcpus();
	check_data(s);
	if (logging(s))
		log_end(s);
	slots[s].live = false;
	publish(s);
	vm_mem_region_delete(vm, s);
	roots_obsolete = true;
	memset(&h_last[last_idx(s, 0)], 0, slots[s].npages * 8);
	resume_vcpus();
}

static void op_move(void)
{
	int s = pick_live(), o, r;
	uint64_t gpa;

	if (!s)
		return;
	if (one_in(6)) {
		/* Bad moves: onto another slot, or with a cap change. */
		o = pick_live();
		gpa = o != s ? slots[o].gpa : pick_gpa(slots[s].npages, slots[s].src);
		r = __vm_set_user_memory_region(vm, s, slots[s].flags ^
						(o != s ? 0 : KVM_MEM_MAX_PAGE_2M),
						gpa, slots[s].npages * PAGE_SIZE,
						slot_hva(s));
		expect_errno(r, o != s ? EEXIST : EINVAL, "bad move");
		return;
	}
	gpa = pick_gpa(slots[s].npages, slots[s].src);
	pause_vcpus();
	vm_mem_region_move(vm, s, gpa);
	roots_obsolete = true;
	slots[s].gpa = gpa;
	publish(s);
	resume_vcpus();
}

/*
 * A memslot delete or move makes every TDP root obsolete; vCPUs free
 * theirs on their next KVM_RUN.  Linux 6.12 (Debian's 6.12.117 included,
 * with or without kvm-split) does not in KVM_PRE_FAULT_MEMORY: on a vCPU
 * that has not run since, it returns RET_PF_RETRY forever (is_page_fault_
 * stale()) and the ioctl only ends on a signal.  Upstream fixed it with
 * commit 20a6cff3b283 ("KVM: x86/mmu: Check and free obsolete roots in
 * kvm_mmu_reload()").  Run the pre-fault vCPU once, as a VMM's vCPUs
 * would have run, unless -P asks to show the hang.
 */
static void refresh_prefault_vcpu(void)
{
	struct ucall uc;

	if (!roots_obsolete || no_refresh)
		return;
	vcpu_run(vcpus[NR_VCPUS]);
	FUZZ_ASSERT(get_ucall(vcpus[NR_VCPUS], &uc) == UCALL_SYNC,
		    "pre-fault vCPU: unexpected exit");
	roots_obsolete = false;
}

static void op_prefault(void)
{
	struct kvm_pre_fault_memory range = {};
	int s = pick_live(), err = 0, r;
	uint64_t first, n;

	if (!have_prefault || !s)
		return;
	first = rnd_below(slots[s].npages);
	n = 1 + rnd_below(min(slots[s].npages - first, 4096UL));
	/*
	 * Map a huge backing all at once, huge; not where logging or a 4K cap
	 * make that 4K faults by the 100 000 (-D delays each).
	 */
	if (one_in(3) && backing_pages(s) > 1 &&
	    !(slots[s].flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_MAX_PAGE_4K))) {
		first = 0;
		n = slots[s].npages;
	}
	range.gpa = slots[s].gpa + first * PAGE_SIZE;
	range.size = n * PAGE_SIZE;
	switch (rnd_below(10)) {
	case 0:
		range.flags = 1ULL << rnd_below(64);
		err = EINVAL;
		break;
	case 1:
		range.gpa += 1 + rnd_below(PAGE_SIZE - 1);
		err = EINVAL;
		break;
	case 2:
		range.size = rnd_below(2) ? 0 : -range.gpa;
		err = EINVAL;
		break;
	case 3:
		range.gpa = WIN_BASE - PAGE_SIZE * (1 + rnd_below(16));
		range.size = PAGE_SIZE;
		err = ENOENT;	/* no memslot */
		break;
	}
	if (verbose)
		pr_info("  slot %d: gpa %#llx size %#llx flags %#llx\n", s,
			range.gpa, range.size, range.flags);
	refresh_prefault_vcpu();
	do {
		r = __vcpu_ioctl(vcpus[NR_VCPUS], KVM_PRE_FAULT_MEMORY, &range);
	} while (!err && (r ? errno == EINTR || errno == EAGAIN : range.size));
	expect_errno(r, err, "KVM_PRE_FAULT_MEMORY");
	check_cap(s);
}

/* A random range of slot @s aligned to its backing's page size. */
static void pick_range(int s, uint64_t *first, uint64_t *n)
{
	uint64_t unit = backing_pages(s), units = slots[s].npages / unit;

	*first = rnd_below(units) * unit;
	*n = (1 + rnd_below(min(units - *first / unit, 64UL))) * unit;
	if (one_in(8))
		*n = slots[s].npages - *first;
}

/* MADV_DONTNEED: shared memory keeps its data, private memory reads 0. */
static void op_dontneed(void)
{
	int s = pick_live();
	uint64_t first, n;
	bool pause;

	if (!s)
		return;
	pick_range(s, &first, &n);
	pause = !backing_keeps_data(s);
	if (pause)
		pause_vcpus();
	FUZZ_ASSERT(!madvise(page_hva(s, first), n * PAGE_SIZE,
			     MADV_DONTNEED), "MADV_DONTNEED: %s", strerror(errno));
	if (pause) {
		model_zero(s, first, n);
		resume_vcpus();
	}
}

/* Read-only for a moment: KVM zaps; the vCPUs are kept out meanwhile. */
static void op_mprotect(void)
{
	int s = pick_live();
	uint64_t first, n;
	void *hva;

	if (!s)
		return;
	pick_range(s, &first, &n);
	hva = page_hva(s, first);
	pause_vcpus();
	FUZZ_ASSERT(!mprotect(hva, n * PAGE_SIZE, PROT_READ), "mprotect: %s",
		    strerror(errno));
	if (one_in(2))
		check_data(s);
	FUZZ_ASSERT(!mprotect(hva, n * PAGE_SIZE, PROT_READ | PROT_WRITE),
		    "mprotect: %s", strerror(errno));
	resume_vcpus();
}

/*
 * munmap() + mmap() of a range: over shared memory with one MAP_FIXED
 * mmap() of the same file while the vCPUs run (the data stays); private
 * memory is replaced by new, zeroed memory with the vCPUs paused.
 */
static void op_remap(void)
{
	int s = pick_live(), mflags;
	struct userspace_mem_region *region;
	uint64_t first, n;
	void *hva, *p;

	if (!s || slots[s].src == VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB)
		return;
	pick_range(s, &first, &n);
	region = memslot2region(vm, s);
	hva = page_hva(s, first);
	mflags = vm_mem_backing_src_alias(slots[s].src)->flag | MAP_FIXED;
	if (backing_keeps_data(s)) {
		p = mmap(hva, n * PAGE_SIZE, PROT_READ | PROT_WRITE, mflags,
			 region->fd, (char *)hva - (char *)region->mmap_start);
		FUZZ_ASSERT(p == hva, "mmap shared: %s", strerror(errno));
		return;
	}
	pause_vcpus();
	FUZZ_ASSERT(!munmap(hva, n * PAGE_SIZE), "munmap: %s", strerror(errno));
	p = mmap(hva, n * PAGE_SIZE, PROT_READ | PROT_WRITE, mflags, -1, 0);
	FUZZ_ASSERT(p == hva, "mmap private: %s", strerror(errno));
	if (slots[s].src == VM_MEM_SRC_ANONYMOUS_THP ||
	    slots[s].src == VM_MEM_SRC_ANONYMOUS)
		madvise(hva, n * PAGE_SIZE, slots[s].src == VM_MEM_SRC_ANONYMOUS ?
			MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	model_zero(s, first, n);
	resume_vcpus();
}

static int param_write(const char *name, const char *val)
{
	char path[128];
	int fd, r;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_WRONLY);
	FUZZ_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	r = write(fd, val, strlen(val)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static void param_read(const char *name, char *buf, size_t n)
{
	char path[128];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY);
	FUZZ_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	r = read(fd, buf, n - 1);
	FUZZ_ASSERT(r > 0, "read %s", path);
	buf[r] = 0;
	buf[strcspn(buf, "\n")] = 0;
	close(fd);
}

static void op_module_param(void)
{
	static const char * const bad[] = { "1", "63", "100", "262145", "-64",
					     "abc", "4294967296", "0x80000000" };
	char val[32];
	int r;

	if (!param_writable)
		return;
	if (one_in(3)) {
		r = param_write("clear_dirty_log_shared", one_in(2) ? "N" : "Y");
		expect_errno(r, 0, "clear_dirty_log_shared");
		return;
	}
	if (one_in(3)) {
		r = param_write("clear_dirty_log_chunk", bad[rnd_below(ARRAY_SIZE(bad))]);
		FUZZ_ASSERT(r == -EINVAL, "bad clear_dirty_log_chunk: %d", r);
	} else {
		uint64_t c = one_in(4) ? 0 : 1ULL << (6 + rnd_below(13));

		snprintf(val, sizeof(val), "%lu", c);
		r = param_write("clear_dirty_log_chunk", val);
		expect_errno(r, 0, "clear_dirty_log_chunk");
		param_chunk = c;
	}
	param_read("clear_dirty_log_chunk", val, sizeof(val));
	FUZZ_ASSERT(strtoull(val, NULL, 0) == param_chunk,
		    "clear_dirty_log_chunk is %s, expected %lu", val, param_chunk);
}

static void op_check_caps(void)
{
	int s;

	for (s = 1; s <= NR_SLOTS; s++)
		check_cap(s);
}

/* With the vCPUs paused: the data, and no write lost by dirty logging. */
static void op_verify(void)
{
	int s;

	pause_vcpus();
	for (s = 1; s <= NR_SLOTS; s++) {
		if (!slots[s].live)
			continue;
		check_data(s);
		if (logging(s))
			log_verify(s);
	}
	resume_vcpus();
}

static const struct op {
	const char *name;
	void (*fn)(void);
	int weight;
} ops[] = {
	{ "split",		op_split,		24 },
	{ "get_log",		op_get_log,		14 },
	{ "clear_log",		op_clear_log,		18 },
	{ "chunk_cap",		op_chunk_cap,		8 },
	{ "page_sizes_cap",	op_page_sizes_cap,	4 },
	{ "check_extension",	op_check_extension,	2 },
	{ "set_flags",		op_set_flags,		10 },
	{ "create",		op_create,		4 },
	{ "delete",		op_delete,		2 },
	{ "move",		op_move,		3 },
	{ "prefault",		op_prefault,		6 },
	{ "dontneed",		op_dontneed,		6 },
	{ "mprotect",		op_mprotect,		2 },
	{ "remap",		op_remap,		3 },
	{ "module_param",	op_module_param,	3 },
	{ "check_caps",		op_check_caps,		3 },
	{ "stats",		stats_check,		6 },
	{ "verify",		op_verify,		2 },
};

/* ------------------------------------------------------------------ */
/* VMs, the main loop                                                 */
/* ------------------------------------------------------------------ */

static void vm_start(uint64_t epoch)
{
	int i;

	op_seed(1, epoch);
	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS + 1, MODEL_PAGES,
				    guest_code, vcpus);
	initially_set = one_in(2);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      (initially_set ? KVM_DIRTY_LOG_INITIALLY_SET : 0));
	page_sizes = rnd_below(4) << 14;
	if (page_sizes)
		vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES, page_sizes);
	vm_chunk = -1;
	roots_obsolete = false;
	vcpu_arch_set_entry_point(vcpus[NR_VCPUS], spare_code);
	virt_map_level(vm, WIN_BASE, WIN_BASE, NR_WINS * WIN_SIZE, PG_LEVEL_1G);
	slot0_pages = memslot2region(vm, 0)->region.memory_size / PAGE_SIZE;
	h_slots = addr_gva2hva(vm, (vm_vaddr_t)g_slots);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, MODEL_GPA,
				    MODEL_SLOT, MODEL_PAGES, 0);
	virt_map(vm, MODEL_GPA, MODEL_GPA, MODEL_PAGES);
	g_last = (uint64_t *)MODEL_GPA;
	sync_global_to_guest(vm, g_last);
	h_last = addr_gpa2hva(vm, MODEL_GPA);
	h_writes = addr_gva2hva(vm, (vm_vaddr_t)g_writes);
	h_pause = addr_gva2hva(vm, (vm_vaddr_t)&g_pause);
	memset(slots, 0, sizeof(slots));
	stats_init();
	vcpus_stop = false;
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 2, i, rnd());
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	pr_info("VM %lu: initially-set %d, page sizes enabled %#x\n", epoch,
		initially_set, page_sizes);
}

static void vm_stop(void)
{
	int s, i;

	op_name = "final verify";
	op_verify();
	op_check_caps();
	stats_check();
	pause_vcpus();
	pthread_mutex_lock(&pause_lock);
	vcpus_stop = true;
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
	for (i = 0; i < NR_VCPUS; i++) {
		pthread_join(threads[i], NULL);
		total_writes += READ_ONCE(h_writes[i]);
	}
	for (s = 1; s <= NR_SLOTS; s++)
		log_free(s);
	nr_split_2m += stat("split_huge_2m");
	nr_split_1g += stat("split_huge_1g");
	nr_chunks_done += stat("clear_dirty_chunks");
	stats_free();
	kvm_vm_free(vm);
	vm = NULL;
}

static void at_exit(void)
{
	if (!finished)
		fprintf(stderr, "split_fuzz: FAILED: seed %lu, operation %lu (%s); replay with -s %lu -n %lu\n",
			seed, op_nr, op_name, seed, op_nr + 1);
	if (delay_probes)
		ks_delay_unload();
	if (param_writable) {
		param_write("clear_dirty_log_chunk", saved_chunk);
		param_write("clear_dirty_log_shared", saved_shared);
	}
}

static void probe_machine(void)
{
	char buf[32];
	int fd;

	have_prefault = KS_HAVE_PRE_FAULT_MEMORY &&
			kvm_has_cap(KVM_CAP_PRE_FAULT_MEMORY);
	have_thp = thp_configured();
	fd = open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", O_RDONLY);
	have_2m = fd >= 0 && read(fd, buf, sizeof(buf)) > 0 && atoi(buf) >= 4 * 64;
	close(fd);
	fd = open("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", O_RDONLY);
	have_1g = fd >= 0 && read(fd, buf, sizeof(buf)) > 0 && atoi(buf) >= 1;
	close(fd);
	param_writable = !access(PARAM_DIR "clear_dirty_log_chunk", W_OK) &&
			 !access(PARAM_DIR "clear_dirty_log_shared", W_OK);
	if (param_writable) {
		param_read("clear_dirty_log_chunk", saved_chunk, sizeof(saved_chunk));
		param_read("clear_dirty_log_shared", saved_shared, sizeof(saved_shared));
	}
	param_chunk = get_kvm_param_integer("clear_dirty_log_chunk");
	pr_info("pre-fault %d, THP %d, 2M hugetlb %d, 1G hugetlb %d, module parameters writable %d\n",
		have_prefault, have_thp, have_2m, have_1g, param_writable);
}

static void dump_file(const char *path, int max_lines)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (max_lines-- > 0 && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, val, strlen(val)) < 0)
			;
		close(fd);
	}
}

#define TRACING	"/sys/kernel/debug/tracing/"

/*
 * An operation that does not end is a failure too: say which, with what
 * the slots and the MMU are doing, rather than leave it to the harness's
 * timeout.
 */
static void *watchdog_thread(void *arg)
{
	uint64_t last = -1, idle = 0;
	int s;

	for (;;) {
		sleep(1);
		if (READ_ONCE(op_nr) != last) {
			last = READ_ONCE(op_nr);
			idle = 0;
			continue;
		}
		if (++idle < 120)
			continue;
		fprintf(stderr, "split_fuzz: operation %lu (%s) stuck for %lu s\n",
			last, op_name, idle);
		for (s = 1; s <= NR_SLOTS; s++)
			fprintf(stderr, "  slot %d: live %d %s, %lu pages at %#lx, flags %#x\n",
				s, slots[s].live,
				vm_mem_backing_src_alias(slots[s].src)->name,
				slots[s].npages, slots[s].gpa, slots[s].flags);
		write_file(TRACING "events/kvm/kvm_page_fault/enable", "1");
		write_file(TRACING "events/kvmmmu/enable", "1");
		usleep(200000);
		write_file(TRACING "tracing_on", "0");
		dump_file(TRACING "trace", 80);
		FUZZ_ASSERT(0, "stuck for %lu s", idle);
	}
	return NULL;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec - t0->tv_sec + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char *argv[])
{
	uint64_t nr_ops = 3000, per_vm = 1000, total_weight = 0, w;
	struct timespec t0;
	pthread_t watchdog;
	double secs, t;
	int opt, i;

	seed = time(NULL);
	while ((opt = getopt(argc, argv, "n:s:e:vPD:")) != -1) {
		switch (opt) {
		case 'n':
			nr_ops = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'e':
			per_vm = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		case 'P':
			no_refresh = true;
			break;
		case 'D':
			delay_probes = optarg;
			break;
		default:
			printf("usage: %s [-n ops] [-s seed] [-e ops per VM] [-v] [-P] [-D probes]\n",
			       argv[0]);
			exit(KSFT_FAIL);
		}
	}
	pr_info("split_fuzz: seed %lu, %lu operations, %lu per VM (replay: -s %lu -n %lu)\n",
		seed, nr_ops, per_vm, seed, nr_ops);
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2));
	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES) &&
		       kvm_has_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) &&
		       kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
		       "kvm-split's KVM is not loaded (or no TDP MMU)");
	probe_machine();
	atexit(at_exit);
	if (delay_probes)
		ks_delay_load(delay_probes);

	for (i = 0; i < ARRAY_SIZE(ops); i++)
		total_weight += ops[i].weight;
	pthread_create(&watchdog, NULL, watchdog_thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (op_nr = 0; op_nr < nr_ops; op_nr++) {
		if (op_nr % per_vm == 0) {
			if (vm)
				vm_stop();
			vm_start(op_nr / per_vm);
		}
		op_seed(0, op_nr);
		w = rnd_below(total_weight);
		for (i = 0; w >= ops[i].weight; i++)
			w -= ops[i].weight;
		op_name = ops[i].name;
		if (verbose)
			pr_info("op %lu: %s (%.3f s)\n", op_nr, op_name,
				elapsed(&t0));
		else if (op_nr && !(op_nr % 1000))
			pr_info("%lu operations, %.0f s\n", op_nr, elapsed(&t0));
		t = elapsed(&t0);
		ops[i].fn();
		counts[i]++;
		op_secs[i] += elapsed(&t0) - t;
	}
	vm_stop();
	secs = elapsed(&t0);

	for (i = 0; i < ARRAY_SIZE(ops); i++)
		pr_info("  %-16s %6lu  %7.3f s\n", ops[i].name, counts[i],
			op_secs[i]);
	pr_info("split_fuzz: seed %lu: %lu operations in %.1f s (%.0f/s), %lu guest writes, violations 0\n",
		seed, nr_ops, secs, nr_ops / secs, total_writes);
	pr_info("  dirty log: %lu changed pages found dirty, %lu pages copied after clears, %lu chunks\n",
		nr_seen_dirty, nr_copied, nr_chunks_done);
	pr_info("  mappings split: %lu 2M, %lu 1G\n", nr_split_2m, nr_split_1g);
	FUZZ_ASSERT(total_writes, "the vCPUs never wrote");
	finished = true;
	return 0;
}
