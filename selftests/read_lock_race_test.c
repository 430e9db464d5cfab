// SPDX-License-Identifier: GPL-2.0
/*
 * read_lock_race_test: widen the windows of kvm-split's read-locked MMU
 * paths (other than the chunked clear's own, clear_dirty_log_race_test)
 * with the delay module (selftests/kmod/kvm_split_delay.c) and check the
 * invariant each locking argument promises.  One subtest per argument
 * (-t):
 *
 *  split     the split walker (arch/x86/split.c) against MMU notifier
 *            zaps, which run while it dropped mmu_lock to allocate, and
 *            against vCPU faults that split the same huge pages (NX huge
 *            page exec faults; 6.1's faults zap the huge SPTE and link
 *            an empty table instead, counted at tdp_mmu_link_sp).
 *            Delays: tdp_mmu_split_huge_page entry (read lock held,
 *            between reading the huge SPTE and the cmpxchg) and
 *            tdp_mmu_alloc_sp_for_split (lock dropped).
 *  recover   in-place recovery on a raised cap (arch/x86/page_size.c:
 *            reads 512 children, then cmpxchg of the parent) against vCPU
 *            writes and faults and zaps.  Delays: tdp_mmu_set_spte_atomic
 *            entry (recovery's cmpxchg, out of line) and make_spte%ret.
 *  lower     a lowered cap against vCPU faults in flight that picked
 *            their level from the old memslot.  Delay: make_spte%ret.
 *  presplit  the chunked clear's presplit under the read lock against
 *            faults that split the same huge pages; a VMM loop checks no
 *            write is lost.  Delay: tdp_mmu_split_huge_page entry.
 *
 * split, recover and lower share one layout: a 64 MiB slot on shared 2M
 * hugetlb (memfd) whose even 2M chunks belong to the host and odd ones to
 * the guest.  A zapper thread walks the chunks: a host chunk is punched out
 * of the file (its page is freed, KVM zaps it through the MMU notifier),
 * rewritten with a new generation through the host's mapping and published
 * with a per-chunk seqlock; the guest reads every host chunk under the
 * seqlock and must see exactly the published generation (a stale NPT
 * mapping would show the freed page).  A guest chunk is dropped with
 * MADV_DONTNEED (KVM zaps it, the data stays in the file); each vCPU
 * writes its pages of the guest chunks pass after pass and checks the
 * previous pass's value first, and the host checks the last values at the
 * end.  Slot 0 is capped at 4K, so the VM's pages_2m/pages_1g stats count
 * the test slot only.
 *
 * Every subtest fails if a delay never fired.
 *
 *   -t name   subtest (required)
 *   -s secs   run time (default 25)
 */
/* fallocate(), aligned_alloc(): 6.1's selftests build without _GNU_SOURCE. */
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
#include <linux/falloc.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_VCPUS	2
#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define TEST_SIZE	(64ULL << 20)
#define TEST_PAGES	(TEST_SIZE / PAGE_SIZE)
#define CHUNK_SIZE	(2ULL << 20)
#define CHUNK_PAGES	(CHUNK_SIZE / PAGE_SIZE)
#define NR_CHUNKS	(TEST_SIZE / CHUNK_SIZE)
#define STUB_OFF	64	/* a RET instruction the guest calls */
#define RET_INSN	0xc3

/* Host -> guest: per host chunk seqlock, odd while the host rewrites it. */
static uint64_t host_seq[NR_CHUNKS];
/* Guest -> host: host chunk reads that saw a stable generation. */
static uint64_t guest_checked[NR_VCPUS];

static inline bool host_chunk(uint64_t c)
{
	return !(c & 1);
}

static inline uint64_t *gpage(uint64_t p)
{
	return (uint64_t *)(TEST_GPA + p * PAGE_SIZE);
}

/* Call the RET at @page's stub: an exec fault if its mapping is NX. */
static inline void guest_exec(uint64_t page)
{
	uint8_t *stub = (uint8_t *)gpage(page) + STUB_OFF;

	WRITE_ONCE(*stub, RET_INSN);
	((void (*)(void))stub)();
}

/* Read host chunk @c under its seqlock: a stable read must be exact. */
static void guest_check_host_chunk(uint32_t id, uint64_t c)
{
	uint64_t s1, s2, p, v, bad = 0, bad_val = 0;

	s1 = READ_ONCE(host_seq[c]);
	if (s1 & 1)
		return;
	for (p = c * CHUNK_PAGES; p < (c + 1) * CHUNK_PAGES; p++) {
		v = READ_ONCE(*gpage(p));
		if (v != ks_pattern(s1 / 2, p) && !bad) {
			bad = p + 1;
			bad_val = v;
		}
	}
	s2 = READ_ONCE(host_seq[c]);
	if (s1 != s2)
		return;
	ks_guest_assert(!bad,
			"stale page %lu: holds %#lx, host published generation %lu (%#lx)",
			bad - 1, bad_val, s1 / 2, ks_pattern(s1 / 2, bad - 1));
	guest_checked[id]++;
}

/*
 * Pass after pass: write this vCPU's pages of the guest chunks (checking
 * the previous pass's value first), call one stub per guest chunk if
 * @exec, read every host chunk.
 */
static void guest_code(uint32_t id, uint32_t exec)
{
	uint64_t pass, c, p;

	for (pass = 1;; pass++) {
		for (c = 1; c < NR_CHUNKS; c += 2) {
			for (p = c * CHUNK_PAGES + id; p < (c + 1) * CHUNK_PAGES;
			     p += NR_VCPUS) {
				GUEST_ASSERT_EQ(READ_ONCE(*gpage(p)),
						ks_pattern(pass - 1, p));
				WRITE_ONCE(*gpage(p), ks_pattern(pass, p));
			}
			if (exec)
				guest_exec(c * CHUNK_PAGES +
					   (pass * NR_VCPUS) % CHUNK_PAGES + id);
		}
		for (c = 0; c < NR_CHUNKS; c += 2)
			guest_check_host_chunk(id, c);
		GUEST_SYNC(pass);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpus[NR_VCPUS];
static pthread_t threads[NR_VCPUS];
static uint64_t passes[NR_VCPUS];
static bool stop_vcpus, stop_zapper;

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
		WRITE_ONCE(passes[vcpu->id], uc.args[1]);
		if (READ_ONCE(stop_vcpus))
			return NULL;
	}
}

struct zapper {
	pthread_t thread;
	uint64_t punched, dropped;
};

static struct zapper zapper;

static void punch(int fd, off_t off)
{
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       off, CHUNK_SIZE),
		    "punch hole: %s", strerror(errno));
}

/*
 * Punch and rewrite host chunks, MADV_DONTNEED guest chunks, in turn.
 *
 * hugetlb reuses the page freed last first, so a rewrite right after a
 * punch would get the very page it freed, and a stale mapping of it would
 * go unseen.  A sink file takes each freed page (and fills it with
 * poison) until the next host chunk is punched, when it is freed again and
 * goes to that other chunk, whose page numbers differ: a stale mapping of
 * a punched page shows poison or another chunk's values.
 */
static void *zapper_thread(void *arg)
{
	struct userspace_mem_region *r = memslot2region(vm, TEST_SLOT);
	uint64_t *seq = addr_gva2hva(vm, (vm_vaddr_t)host_seq);
	uint8_t *hva = r->host_mem, *sink;
	off_t off = (uint8_t *)r->host_mem - (uint8_t *)r->mmap_start;
	uint64_t c = 0, p, gen, k = 0;
	int sink_fd = kvm_memfd_alloc(2 * CHUNK_SIZE, true);

	sink = mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    sink_fd, 0);
	TEST_ASSERT(sink != MAP_FAILED, "mmap sink: %s", strerror(errno));
	punch(sink_fd, 0);		/* kvm_memfd_alloc() allocated them */
	punch(sink_fd, CHUNK_SIZE);

	while (!READ_ONCE(stop_zapper)) {
		uint8_t *chunk = hva + c * CHUNK_SIZE;

		if (host_chunk(c)) {
			gen = seq[c] / 2 + 1;
			WRITE_ONCE(seq[c], seq[c] + 1);
			punch(r->fd, off + c * CHUNK_SIZE);
			for (p = 0; p < CHUNK_PAGES; p++)
				WRITE_ONCE(*(uint64_t *)(sink + k * CHUNK_SIZE +
							 p * PAGE_SIZE), ~0ULL);
			for (p = c * CHUNK_PAGES; p < (c + 1) * CHUNK_PAGES; p++)
				WRITE_ONCE(*(uint64_t *)(hva + p * PAGE_SIZE),
					   ks_pattern(gen, p));
			WRITE_ONCE(seq[c], 2 * gen);
			k ^= 1;
			punch(sink_fd, k * CHUNK_SIZE);
			zapper.punched++;
		} else {
			TEST_ASSERT(!madvise(chunk, CHUNK_SIZE, MADV_DONTNEED),
				    "MADV_DONTNEED: %s", strerror(errno));
			zapper.dropped++;
		}
		c = (c + 1) % NR_CHUNKS;
		usleep(1000);
	}
	munmap(sink, 2 * CHUNK_SIZE);
	close(sink_fd);
	return NULL;
}

/*
 * A VM whose only memory that can be mapped huge is the test slot; the
 * vCPUs and the zapper start running.
 */
static void start(bool exec)
{
	int i;

	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, TEST_PAGES,
				    guest_code, vcpus);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);
	vm_mem_region_set_flags(vm, 0, KVM_MEM_MAX_PAGE_4K);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_SHARED_HUGETLB, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);

	memset(passes, 0, sizeof(passes));
	stop_vcpus = stop_zapper = false;
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 2, i, exec);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	memset(&zapper, 0, sizeof(zapper));
	pthread_create(&zapper.thread, NULL, zapper_thread, NULL);
}

/*
 * Stop the zapper and the vCPUs, then check from the host that every page
 * of the guest chunks holds what its vCPU wrote last and every page of the
 * host chunks the last generation.
 */
static void stop_and_check(void)
{
	uint64_t *seq = addr_gva2hva(vm, (vm_vaddr_t)host_seq);
	uint64_t *hva = addr_gpa2hva(vm, TEST_GPA);
	uint64_t *checked = addr_gva2hva(vm, (vm_vaddr_t)guest_checked);
	uint64_t p, c, want;
	int i;

	WRITE_ONCE(stop_zapper, true);
	pthread_join(zapper.thread, NULL);
	WRITE_ONCE(stop_vcpus, true);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);

	for (p = 0; p < TEST_PAGES; p++) {
		c = p / CHUNK_PAGES;
		want = host_chunk(c) ? ks_pattern(seq[c] / 2, p) :
				       ks_pattern(passes[p % NR_VCPUS], p);
		TEST_ASSERT(hva[p * PAGE_SIZE / 8] == want,
			    "page %lu (%s chunk) holds %#lx, expected %#lx", p,
			    host_chunk(c) ? "host" : "guest",
			    hva[p * PAGE_SIZE / 8], want);
	}
	TEST_ASSERT(passes[0] > 1 && passes[1] > 1 && checked[0] && checked[1],
		    "the vCPUs made no progress");
	pr_info("guest: %lu + %lu passes, %lu + %lu stable host chunk reads; zapper: %lu punched + rewritten, %lu dropped\n",
		passes[0], passes[1], checked[0], checked[1], zapper.punched,
		zapper.dropped);
}

static uint64_t stat(const char *name)
{
	return vm_get_stat(vm, name);
}

static void assert_delayed(const char *sym)
{
	uint64_t n = ks_delay_count(sym);

	pr_info("delays at %s: %lu\n", sym, n);
	TEST_ASSERT(n, "the delay at %s never ran", sym);
}

static bool elapsed(time_t t0, uint64_t secs)
{
	return time(NULL) - t0 >= (time_t)secs;
}

/*
 * The split walker splits the slot again and again while the zapper frees
 * and rewrites chunks and the vCPUs' exec faults split huge pages too
 * (nx_huge_pages=1).
 */
static void test_split(uint64_t secs)
{
	const char *alloc = ks_split_alloc_sym();
	const char *fault = KS_FAULT_HUGE_SYM;
	uint64_t calls = 0, split = 0, base, hits, faults;
	char probes[160];
	time_t t0;

	TEST_ASSERT(get_kvm_param_bool("nx_huge_pages"),
		    "run with kvm.nx_huge_pages=1: exec faults split huge pages");
	snprintf(probes, sizeof(probes), "tdp_mmu_split_huge_page:500,%s:2000",
		 alloc);
	/* 6.1: also count the tables its faults link (no delay). */
	if (strcmp(fault, "tdp_mmu_split_huge_page"))
		snprintf(probes + strlen(probes), sizeof(probes) - strlen(probes),
			 ",%s:0", fault);
	ks_delay_load(probes);
	start(true);
	base = stat("split_huge_2m");

	for (t0 = time(NULL); !elapsed(t0, secs); calls++) {
		split += ks_split(vm, TEST_SLOT, 0, TEST_PAGES, 4096);
		usleep(5000);
	}
	stop_and_check();
	TEST_ASSERT_EQ(stat("split_huge_2m") - base, split);

	hits = ks_delay_count("tdp_mmu_split_huge_page");
	faults = ks_delay_count(fault);
	pr_info("%lu KVM_SPLIT_HUGE_PAGES calls split %lu 2M mappings; tdp_mmu_split_huge_page ran %lu times, %s %lu times (%lu by faults or lost races)\n",
		calls, split, hits, fault, faults, faults - split);
	assert_delayed("tdp_mmu_split_huge_page");
	assert_delayed(alloc);
	TEST_ASSERT(split, "the walker split nothing");
	TEST_ASSERT(faults > split, "no fault replaced a huge page (%s)", fault);
	kvm_vm_free(vm);
}

/*
 * Lower the cap to 4K and raise it again and again while the vCPUs write
 * and fault and the zapper zaps: right after each lowering no 2M mapping
 * may be left; after each raise the recovered mappings are counted.
 */
static void cycle_cap(uint64_t secs)
{
	uint64_t cycles = 0, recovered = 0, p2m, p4k, max4k;
	time_t t0;

	max4k = memslot2region(vm, 0)->region.memory_size / PAGE_SIZE +
		TEST_PAGES;
	for (t0 = time(NULL); !elapsed(t0, secs); cycles++) {
		vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
		p2m = stat("pages_2m");
		TEST_ASSERT(!p2m && !stat("pages_1g"),
			    "cycle %lu: %lu 2M mappings right after lowering the cap to 4K",
			    cycles, p2m);
		usleep(2000);
		vm_mem_region_set_flags(vm, TEST_SLOT, 0);
		p2m = stat("pages_2m");
		TEST_ASSERT(p2m <= NR_CHUNKS && !stat("pages_1g"),
			    "cycle %lu: %lu 2M mappings in %llu chunks", cycles,
			    p2m, NR_CHUNKS);
		recovered += p2m;
		usleep(20000);
	}
	stop_and_check();

	/* Idle: lowering once more leaves no huge mapping and sane counts. */
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	p4k = stat("pages_4k");
	TEST_ASSERT(!stat("pages_2m") && !stat("pages_1g") &&
		    p4k <= max4k,
		    "stats after the last lowering: 4K %lu (at most %lu), 2M %lu, 1G %lu",
		    p4k, max4k, stat("pages_2m"), stat("pages_1g"));
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, TEST_PAGES, 4096), 0);
	pr_info("%lu cap cycles 0 -> 4K -> 0, %lu 2M mappings right after the raises, none right after the lowerings\n",
		cycles, recovered);
	TEST_ASSERT(recovered, "no 2M mapping was ever recovered");
}

static void test_recover(uint64_t secs)
{
	ks_delay_load("tdp_mmu_set_spte_atomic:300,make_spte%ret:300:8");
	start(false);
	cycle_cap(secs);
	assert_delayed("tdp_mmu_set_spte_atomic");
	assert_delayed("make_spte");
	kvm_vm_free(vm);
}

static void test_lower(uint64_t secs)
{
	ks_delay_load("make_spte%ret:1000");
	start(false);
	cycle_cap(secs);
	assert_delayed("make_spte");
	kvm_vm_free(vm);
}

/*
 * presplit: unique values at random pages, and calls to random stubs while
 * the host allows them (dirty logging on).
 */
static bool presplit_stop, presplit_exec;
static uint64_t presplit_writes[NR_VCPUS];

static void presplit_guest_code(uint32_t id, uint64_t seed)
{
	uint64_t x = seed | 1, n = 0, page;

	while (!READ_ONCE(presplit_stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % TEST_PAGES;
		n++;
		WRITE_ONCE(*gpage(page), n << 1 | id);
		if (!(n & 63) && READ_ONCE(presplit_exec))
			((void (*)(void))((uint8_t *)gpage(x >> 32 & (TEST_PAGES - 1)) +
					  STUB_OFF))();
		if (!(n & 63))
			WRITE_ONCE(presplit_writes[id], n);
	}
	WRITE_ONCE(presplit_writes[id], n);
	GUEST_DONE();
}

static void *presplit_vcpu_thread(void *arg)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(arg, &uc), UCALL_DONE);
	return NULL;
}

static uint64_t peek(uint8_t *hva, uint64_t p)
{
	return READ_ONCE(*(uint64_t *)(hva + p * PAGE_SIZE));
}

/*
 * A migrating VMM (GET, CLEAR exactly the bits seen, copy after the
 * clear) on a hugetlb slot with manual-protect and initially-set: every
 * CLEAR of huge-mapped pages presplits them under the read lock while
 * exec faults (nx_huge_pages=1) split the same pages.  Dirty logging is
 * turned off for 200 ms every half second, so that the guest's writes map
 * the slot huge again, and back on, which sets every bit again; the VMM
 * then copies everything once more, as after a restart.
 */
static void test_presplit(uint64_t secs)
{
	unsigned long *bmap = bitmap_zalloc(TEST_PAGES);
	uint64_t *dest = calloc(TEST_PAGES, sizeof(*dest));
	uint64_t rounds = 0, toggles = 0, copied = 0, lost = 0, first = 0;
	uint64_t p, split, hits, *writes;
	bool *exec;
	pthread_t vt[NR_VCPUS];
	struct timespec last, now;
	uint8_t *hva;
	time_t t0;
	int i;

	TEST_ASSERT(bmap && dest, "out of memory");
	TEST_ASSERT(get_kvm_param_bool("nx_huge_pages") &&
		    get_kvm_param_bool("eager_page_split") &&
		    !get_kvm_param_bool("clear_dirty_log_shared"),
		    "run with kvm.nx_huge_pages=1 kvm.eager_page_split=1 kvm.clear_dirty_log_shared=N");
	ks_delay_load("tdp_mmu_split_huge_page:1000");

	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, TEST_PAGES,
				    presplit_guest_code, vcpus);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, 64);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);
	hva = addr_gpa2hva(vm, TEST_GPA);
	for (p = 0; p < TEST_PAGES; p++)
		hva[p * PAGE_SIZE + STUB_OFF] = RET_INSN;
	writes = addr_gva2hva(vm, (vm_vaddr_t)presplit_writes);
	exec = addr_gva2hva(vm, (vm_vaddr_t)&presplit_exec);

	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 2, i, 0x1234567ULL * (i + 1));
		pthread_create(&vt[i], NULL, presplit_vcpu_thread, vcpus[i]);
	}

	clock_gettime(CLOCK_MONOTONIC, &last);
	last.tv_sec--;
	for (t0 = time(NULL); !elapsed(t0, secs); rounds++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timespec_to_ns(timespec_sub(now, last)) > 500000000) {
			/*
			 * Off: huge again where the guest writes (no exec
			 * faults to split them meanwhile); on: all bits set,
			 * and exec faults race with the presplits.
			 */
			WRITE_ONCE(*exec, false);
			vm_mem_region_set_flags(vm, TEST_SLOT, 0);
			usleep(200000);
			vm_mem_region_set_flags(vm, TEST_SLOT,
						KVM_MEM_LOG_DIRTY_PAGES);
			WRITE_ONCE(*exec, true);
			toggles++;
			last = now;
		}
		kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
		kvm_vm_clear_dirty_log(vm, TEST_SLOT, bmap, 0, TEST_PAGES);
		for (p = 0; p < TEST_PAGES; p++) {
			if (!test_bit(p, bmap))
				continue;
			dest[p] = peek(hva, p);
			copied++;
		}
	}

	WRITE_ONCE(*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&presplit_stop), true);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(vt[i], NULL);

	/* The last round, with the vCPUs stopped: nothing may differ now. */
	kvm_vm_get_dirty_log(vm, TEST_SLOT, bmap);
	for (p = 0; p < TEST_PAGES; p++) {
		if (test_bit(p, bmap))
			dest[p] = peek(hva, p);
		if (dest[p] != peek(hva, p) && !lost++)
			first = p;
	}
	split = stat("split_huge_2m");
	hits = ks_delay_count("tdp_mmu_split_huge_page");
	pr_info("%lu rounds, %lu log toggles, %lu pages copied, %lu + %lu guest writes\n",
		rounds, toggles, copied, writes[0], writes[1]);
	pr_info("%lu 2M mappings presplit; tdp_mmu_split_huge_page ran %lu times (%lu by faults or lost races)\n",
		split, hits, hits - split);
	pr_info("lost pages: %lu of %llu\n", lost, TEST_PAGES);
	assert_delayed("tdp_mmu_split_huge_page");
	TEST_ASSERT(!lost,
		    "%lu pages lost: page %lu holds %#lx at the source, %#lx at the destination",
		    lost, first, peek(hva, first), dest[first]);
	TEST_ASSERT(writes[0] && writes[1] && toggles > 1 && split &&
		    hits > split,
		    "no progress: writes %lu + %lu, %lu toggles, %lu presplit, %lu other splits",
		    writes[0], writes[1], toggles, split, hits - split);
	kvm_vm_free(vm);
	free(bmap);
	free(dest);
}

int main(int argc, char *argv[])
{
	const char *test = NULL;
	uint64_t secs = 25;
	int opt;

	while ((opt = getopt(argc, argv, "t:s:")) != -1) {
		switch (opt) {
		case 't':
			test = optarg;
			break;
		case 's':
			secs = strtoull(optarg, NULL, 0);
			break;
		default:
			TEST_FAIL("usage: %s -t split|recover|lower|presplit [-s secs]",
				  argv[0]);
		}
	}
	TEST_ASSERT(test, "usage: %s -t split|recover|lower|presplit [-s secs]",
		    argv[0]);
	/* The features under test are the point: their absence fails. */
	TEST_ASSERT(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES) &&
		    kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) &&
		    kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
		    "kvm-split's KVM is not loaded");

	if (!strcmp(test, "split"))
		test_split(secs);
	else if (!strcmp(test, "recover"))
		test_recover(secs);
	else if (!strcmp(test, "lower"))
		test_lower(secs);
	else if (!strcmp(test, "presplit"))
		test_presplit(secs);
	else
		TEST_FAIL("unknown subtest %s", test);
	ks_delay_unload();
	return 0;
}
