// SPDX-License-Identifier: GPL-2.0
/*
 * clear_dirty_log_bench: one KVM_CLEAR_DIRTY_LOG of a whole slot (default
 * 1 GiB, backed by 2M hugetlb pages), upstream's single pass (chunk 0)
 * against kvm-split's chunks (KVM_CAP_CLEAR_DIRTY_LOG_CHUNK), while two
 * vCPUs keep writing the slot, one word per 4 KiB page.
 *
 * Two cases, with manual-protect and initially-set as QEMU uses them:
 *  - first: the first clear after dirty logging is enabled, with the slot
 *    mapped by 2M pages: the clear splits them (eager_page_split);
 *  - steady: every page mapped 4K (split beforehand with
 *    KVM_SPLIT_HUGE_PAGES) and dirty, as in a later migration pass: the
 *    clear write-protects every page.
 *
 * Reported per call: wall time, CPU time of the calling thread (the wall
 * time less what it left to other threads), the longest mmu_lock write hold
 * (clear_dirty_max_hold_ns), chunks, 2M mappings split, how many pages the
 * vCPUs wrote while the call ran (guest counters read by the host), and the
 * vCPUs' worst stall: the longest time between two consecutive writes of a
 * vCPU while the call ran (guest TSC, converted with the host's TSC rate),
 * i.e. its slowest write fault, lock waits included, plus whatever else
 * kept the vCPU from running (under emulation, mostly scheduling).
 *
 * clear_dirty_max_hold_ns is a peak that only grows, so every measured call
 * runs in a fresh VM whose peak is checked to be 0 before the call: the
 * value read after it is exactly that call's longest hold.  Upstream's
 * path (chunk 0) does not update the stat.  In the steady case it holds
 * the lock once over the whole range, so its hold is at most the call's
 * wall time, and one chunk covering the whole range measures the same
 * single hold from inside.  In the first case upstream's split drops
 * mmu_lock to allocate each page table (Linux 6.11+), so its longest hold
 * is not known here ("n/a").
 *
 * Numbers only; the data are checked: the log before the call must have
 * every bit set, the chunk count must be exact, every page must hold what
 * a vCPU wrote there, and every page changed after the call must be dirty.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_VCPUS	2
#define SLOT		1
#define GPA		(4ULL << 30)
#define MANUAL_CAPS	(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | \
			 KVM_DIRTY_LOG_INITIALLY_SET)
#define MAX_CHUNKS	16
#define MAX_REPS	9

/* Shared with the guest. */
static uint64_t bench_pages;
static bool bench_stop;
static uint64_t bench_writes[NR_VCPUS];
static uint64_t bench_passes[NR_VCPUS];
static bool bench_measure;		/* host: the call is running */
static uint64_t bench_max_gap[NR_VCPUS];	/* TSC cycles */

/* Each vCPU writes its half of the slot, pass after pass. */
static void guest_code(uint32_t id)
{
	uint64_t half = READ_ONCE(bench_pages) / NR_VCPUS, first = id * half;
	uint64_t pass, i, t, last = 0;

	for (pass = 1;; pass++) {
		for (i = first; i < first + half; i++) {
			WRITE_ONCE(*(uint64_t *)(GPA + i * PAGE_SIZE),
				   pass << 32 | i);
			t = rdtsc();
			if (READ_ONCE(bench_measure) && last &&
			    t - last > READ_ONCE(bench_max_gap[id]))
				WRITE_ONCE(bench_max_gap[id], t - last);
			last = t;
			WRITE_ONCE(bench_writes[id], bench_writes[id] + 1);
			if (READ_ONCE(bench_stop))
				GUEST_DONE();
		}
		WRITE_ONCE(bench_passes[id], pass);
	}
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_DONE);
	return NULL;
}

struct sample {
	double wall_ms;
	double cpu_ms;		/* CPU time of the calling thread */
	double hold_ms;		/* < 0: not measured (chunk 0) */
	uint64_t writes;	/* pages the vCPUs wrote during the call */
	double stall_ms;	/* longest gap between two writes of a vCPU */
	uint64_t chunks;
	bool shared;		/* re-armed under the read lock */
	uint64_t split;		/* 2M mappings gone */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* TSC cycles per millisecond, measured once against CLOCK_MONOTONIC. */
static double tsc_per_ms;

static void calibrate_tsc(void)
{
	uint64_t t0 = now_ns(), c0 = rdtsc(), t1, c1;

	usleep(200000);
	t1 = now_ns();
	c1 = rdtsc();
	tsc_per_ms = (double)(c1 - c0) / ((t1 - t0) / 1e6);
}

static uint64_t vcpu_sum(uint64_t *v)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < NR_VCPUS; i++)
		s += READ_ONCE(v[i]);
	return s;
}

static void split_slot(struct kvm_vm *vm, uint64_t pages)
{
	struct kvm_split_huge_pages args = {
		.slot = SLOT,
		.num_pages = pages,
		.page_size = PAGE_SIZE,
	};
	int r;

	do {
		r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
		TEST_ASSERT(!r || errno == EINTR, "KVM_SPLIT_HUGE_PAGES: %s",
			    strerror(errno));
	} while (args.num_pages);
}

/* One measured KVM_CLEAR_DIRTY_LOG of the whole slot, in a fresh VM. */
static void measure(uint64_t pages, uint64_t chunk, bool steady,
		    struct sample *out)
{
	struct kvm_vcpu *vcpus[NR_VCPUS];
	pthread_t threads[NR_VCPUS];
	unsigned long *bmap = bitmap_zalloc(pages);
	uint64_t *snap = calloc(pages, sizeof(*snap));
	uint64_t *hva, *writes, *passes, w0, t0, t1, u0, u1, c0, p2m, n, p;
	uint64_t *gap;
	bool *measuring;
	struct kvm_clear_dirty_log clear = {
		.slot = SLOT,
		.num_pages = pages,
	};
	struct kvm_vm *vm;
	int i;

	TEST_ASSERT(bmap && snap, "out of memory");
	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, pages,
				    guest_code, vcpus);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, MANUAL_CAPS);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, chunk);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB, GPA,
				    SLOT, pages, 0);
	virt_map(vm, GPA, GPA, pages);
	bench_pages = pages;
	sync_global_to_guest(vm, bench_pages);
	hva = addr_gpa2hva(vm, GPA);
	writes = addr_gva2hva(vm, (vm_vaddr_t)bench_writes);
	passes = addr_gva2hva(vm, (vm_vaddr_t)bench_passes);
	gap = addr_gva2hva(vm, (vm_vaddr_t)bench_max_gap);
	measuring = addr_gva2hva(vm, (vm_vaddr_t)&bench_measure);

	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	/* One pass each: the slot is mapped with 2M pages. */
	for (i = 0; i < NR_VCPUS; i++)
		while (!READ_ONCE(passes[i]))
			usleep(1000);
	if (steady)
		split_slot(vm, pages);

	vm_mem_region_set_flags(vm, SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	/* Let the vCPUs write on with logging on. */
	w0 = vcpu_sum(writes);
	while (vcpu_sum(writes) < w0 + 4096)
		usleep(1000);

	kvm_vm_get_dirty_log(vm, SLOT, bmap);
	for (p = n = 0; p < pages; p++)
		n += test_bit(p, bmap);
	TEST_ASSERT(n == pages, "initially-set log has %lu of %lu bits set",
		    n, pages);
	TEST_ASSERT_EQ(vm_get_stat(vm, "clear_dirty_max_hold_ns"), 0);
	c0 = vm_get_stat(vm, "clear_dirty_chunks");
	p2m = vm_get_stat(vm, "pages_2m");

	clear.dirty_bitmap = bmap;
	w0 = vcpu_sum(writes);
	WRITE_ONCE(*measuring, true);
	t0 = now_ns();
	u0 = cpu_ns();
	vm_ioctl(vm, KVM_CLEAR_DIRTY_LOG, &clear);
	u1 = cpu_ns();
	t1 = now_ns();
	WRITE_ONCE(*measuring, false);
	out->writes = vcpu_sum(writes) - w0;
	out->stall_ms = max(READ_ONCE(gap[0]), READ_ONCE(gap[1])) / tsc_per_ms;

	for (p = 0; p < pages; p++)
		snap[p] = READ_ONCE(hva[p * PAGE_SIZE / sizeof(*hva)]);
	out->wall_ms = (t1 - t0) / 1e6;
	out->cpu_ms = (u1 - u0) / 1e6;
	out->hold_ms = chunk ?
		vm_get_stat(vm, "clear_dirty_max_hold_ns") / 1e6 : -1;
	out->chunks = vm_get_stat(vm, "clear_dirty_chunks") - c0;
	out->shared = vm_get_stat(vm, "clear_dirty_shared_chunks");
	out->split = p2m - vm_get_stat(vm, "pages_2m");
	n = chunk ? (pages + chunk - 1) / chunk : 0;
	TEST_ASSERT(out->chunks == n, "%lu chunks, expected %lu",
		    out->chunks, n);

	WRITE_ONCE(*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&bench_stop), true);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);

	/* Every page holds a vCPU's write; changes since the call are dirty. */
	kvm_vm_get_dirty_log(vm, SLOT, bmap);
	for (p = 0; p < pages; p++) {
		uint64_t v = READ_ONCE(hva[p * PAGE_SIZE / sizeof(*hva)]);

		TEST_ASSERT((v & 0xffffffff) == p && v >> 32,
			    "page %lu holds %#lx", p, v);
		TEST_ASSERT(v == snap[p] || test_bit(p, bmap),
			    "page %lu changed after the clear (%#lx -> %#lx) but is not dirty",
			    p, snap[p], v);
	}

	kvm_vm_free(vm);
	free(bmap);
	free(snap);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minimum(double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		m = min(m, v[i]);
	return m;
}

static void chunk_name(uint64_t chunk, char *buf, size_t len)
{
	uint64_t kib = chunk * PAGE_SIZE >> 10;

	if (!chunk)
		snprintf(buf, len, "0 (upstream)");
	else if (kib >= 1 << 20)
		snprintf(buf, len, "%lu GiB", kib >> 20);
	else if (kib >= 1 << 10)
		snprintf(buf, len, "%lu MiB", kib >> 10);
	else
		snprintf(buf, len, "%lu KiB", kib);
}

struct row {
	uint64_t chunk;
	double wall, hold, wall_min, hold_min, cpu, writes_per_ms, stall;
	uint64_t chunks, split;
	bool shared;
};

static void run_case(uint64_t pages, bool steady, const uint64_t *chunks,
		     int nr_chunks, int reps, struct row *rows)
{
	const char *name = steady ? "steady" : "first";
	int c, r;

	for (c = 0; c < nr_chunks; c++) {
		double wall[MAX_REPS], hold[MAX_REPS], rate[MAX_REPS];
		double cpu[MAX_REPS], stall[MAX_REPS];
		struct sample s = {};
		char cn[32];

		chunk_name(chunks[c], cn, sizeof(cn));
		for (r = 0; r < reps; r++) {
			measure(pages, chunks[c], steady, &s);
			wall[r] = s.wall_ms;
			cpu[r] = s.cpu_ms;
			hold[r] = s.hold_ms;
			rate[r] = s.writes / s.wall_ms;
			stall[r] = s.stall_ms;
			pr_info("  %-6s chunk %-12s run %d: %8.2f ms (CPU %8.2f), hold %8.3f ms, %6lu vCPU writes, worst stall %7.3f ms, %4lu chunks, %3lu 2M split\n",
				name, cn, r + 1, s.wall_ms, s.cpu_ms, s.hold_ms,
				s.writes, s.stall_ms, s.chunks, s.split);
		}
		rows[c] = (struct row){
			.chunk = chunks[c],
			.wall = median(wall, reps),
			.hold = chunks[c] ? median(hold, reps) : -1,
			.wall_min = minimum(wall, reps),
			.cpu = median(cpu, reps),
			.hold_min = chunks[c] ? minimum(hold, reps) : -1,
			.writes_per_ms = median(rate, reps),
			.stall = median(stall, reps),
			.chunks = s.chunks,
			.shared = s.shared,
			.split = s.split,
		};
	}
}

static void print_table(const char *title, struct row *rows, int n,
			bool steady)
{
	double hold0 = rows[0].chunk ? rows[0].hold : rows[0].wall;
	int i;

	printf("\n%s\n", title);
	printf("| chunk        | wall ms (min)      | CPU ms   | max hold ms (min)  | hold vs chunk 0 | wall vs chunk 0 | CPU vs chunk 0 | vCPU writes/ms | worst stall ms | chunks | 2M split |\n");
	printf("|--------------|--------------------|----------|--------------------|-----------------|-----------------|----------------|----------------|----------------|--------|----------|\n");
	for (i = 0; i < n; i++) {
		char cn[32], hold[48], ratio[32], wall[48];

		chunk_name(rows[i].chunk, cn, sizeof(cn));
		snprintf(wall, sizeof(wall), "%.2f (%.2f)", rows[i].wall,
			 rows[i].wall_min);
		if (rows[i].hold < 0) {
			snprintf(hold, sizeof(hold), steady ? "<= wall" : "n/a");
			snprintf(ratio, sizeof(ratio), steady ? "1" : "-");
		} else if (!rows[i].hold) {
			/* Read-locked, drain skipped: no write hold at all. */
			snprintf(hold, sizeof(hold), "0 (read lock)");
			snprintf(ratio, sizeof(ratio), "-");
		} else if (rows[i].shared) {
			/* Read-locked: the one write hold is the empty drain. */
			snprintf(hold, sizeof(hold), "%.3f (drain)",
				 rows[i].hold);
			snprintf(ratio, sizeof(ratio), "-");
		} else {
			snprintf(hold, sizeof(hold), "%.3f (%.3f)", rows[i].hold,
				 rows[i].hold_min);
			if (steady || rows[0].chunk)
				snprintf(ratio, sizeof(ratio), "1/%.0f",
					 hold0 / rows[i].hold);
			else
				snprintf(ratio, sizeof(ratio), "-");
		}
		printf("| %-12s | %18s | %8.2f | %18s | %15s | %14.0f%% | %13.0f%% | %14.1f | %14.3f | %6lu | %8lu |\n",
		       cn, wall, rows[i].cpu, hold, ratio,
		       100.0 * rows[i].wall / rows[0].wall,
		       100.0 * rows[i].cpu / rows[0].cpu,
		       rows[i].writes_per_ms, rows[i].stall, rows[i].chunks,
		       rows[i].split);
	}
}

static void check_goal(struct row *rows, int n, uint64_t pages)
{
	struct row *r0 = NULL, *r16 = NULL, *one = NULL;
	double by_wall, by_one = 0;
	bool hold_met, wall_met, cpu_met;
	int i;

	for (i = 0; i < n; i++) {
		if (!rows[i].chunk)
			r0 = &rows[i];
		if (rows[i].chunk == (16ULL << 20) / PAGE_SIZE)
			r16 = &rows[i];
		if (rows[i].chunk >= pages)
			one = &rows[i];
	}
	if (!r0 || !r16) {
		printf("\ngoal: not evaluated (needs chunk 0 and 4096 = 16 MiB)\n");
		return;
	}
	if (!r16->hold || r16->shared) {
		printf("\ngoal (steady state, 16 MiB chunks vs chunk 0): no work under the mmu_lock write lock (read-locked clears; one empty drain of %.3f ms): met\n",
		       r16->hold);
		printf("  total time: wall %+.1f%%, CPU %+.1f%% (need <= +10%%)\n",
		       100.0 * (r16->wall / r0->wall - 1),
		       100.0 * (r16->cpu / r0->cpu - 1));
		return;
	}
	by_wall = r0->wall / r16->hold;
	if (one)
		by_one = one->hold / r16->hold;
	hold_met = by_wall >= 32 && (!one || by_one >= 32);
	wall_met = r16->wall <= 1.1 * r0->wall;
	cpu_met = r16->cpu <= 1.1 * r0->cpu;
	printf("\ngoal (steady state, 16 MiB chunks vs chunk 0):\n");
	printf("  longest hold %.0fx shorter than chunk 0's whole call", by_wall);
	if (one)
		printf(", %.0fx than one whole-range chunk's measured hold",
		       by_one);
	printf(" (need >= 32x): %s\n", hold_met ? "met" : "NOT met");
	printf("  total time: wall %+.1f%%, CPU %+.1f%% (need <= +10%%): wall %s, CPU %s\n",
	       100.0 * (r16->wall / r0->wall - 1),
	       100.0 * (r16->cpu / r0->cpu - 1), wall_met ? "met" : "NOT met",
	       cpu_met ? "met" : "NOT met");
}

static void help(const char *name)
{
	printf("usage: %s [-b MiB] [-c chunk,...] [-r reps] [-s]\n"
	       " -b: slot size in MiB, a multiple of 4 (default 1024)\n"
	       " -c: chunk sizes in 4 KiB pages, 0 = upstream\n"
	       "     (default 0,64,256,4096,32768,262144: 0, 256K, 1M, 16M, 128M, 1G)\n"
	       " -r: fresh VMs (calls) per configuration, median reported (default 5)\n"
	       " -s: steady case only\n",
	       name);
	exit(KSFT_FAIL);
}

int main(int argc, char *argv[])
{
	uint64_t chunks[MAX_CHUNKS] = { 0, 64, 256, 4096, 32768, 262144 };
	struct row first[MAX_CHUNKS], steady[MAX_CHUNKS];
	int nr_chunks = 6, reps = 5, opt;
	uint64_t mib = 1024, pages;
	bool steady_only = false;
	char title[128], *tok;

	while ((opt = getopt(argc, argv, "b:c:r:sh")) != -1) {
		switch (opt) {
		case 'b':
			mib = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			nr_chunks = 0;
			for (tok = strtok(optarg, ","); tok && nr_chunks < MAX_CHUNKS;
			     tok = strtok(NULL, ","))
				chunks[nr_chunks++] = strtoull(tok, NULL, 0);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 's':
			steady_only = true;
			break;
		default:
			help(argv[0]);
		}
	}
	TEST_ASSERT(mib && !(mib % 4) && reps > 0 && reps <= MAX_REPS &&
		    nr_chunks > 0, "bad arguments");
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES) & PAGE_SIZE);
	pages = mib << 20 >> PAGE_SHIFT;
	calibrate_tsc();

	pr_info("KVM_CLEAR_DIRTY_LOG of %lu MiB (%lu pages, 2M hugetlb), %d vCPUs writing, %d fresh VM(s) per configuration\n",
		mib, pages, NR_VCPUS, reps);
	pr_info("clear_dirty_log_shared=%s, clear_dirty_log_unsafe_skip_drain=%s, TSC %.0f kHz\n",
		get_kvm_param_bool("clear_dirty_log_shared") ? "Y" : "N",
		get_kvm_param_bool("clear_dirty_log_unsafe_skip_drain") ? "Y" : "N",
		tsc_per_ms);
	if (!steady_only)
		run_case(pages, false, chunks, nr_chunks, reps, first);
	run_case(pages, true, chunks, nr_chunks, reps, steady);

	if (!steady_only) {
		snprintf(title, sizeof(title),
			 "first clear after enabling logging (splits 2M), %lu MiB, median of %d",
			 mib, reps);
		print_table(title, first, nr_chunks, false);
	}
	snprintf(title, sizeof(title),
		 "steady state (all 4K, all dirty), %lu MiB, median of %d",
		 mib, reps);
	print_table(title, steady, nr_chunks, true);
	check_goal(steady, nr_chunks, pages);
	return 0;
}
