// SPDX-License-Identifier: GPL-2.0
/*
 * migration_bench: a precopy live-migration model run against real KVM.
 *
 * The guest's vCPUs write random 4 KiB pages of a hugetlb- or THP-backed
 * memslot at a rate the guest limits itself (rdtsc).  The host thread plays
 * a VMM's migration thread: it sends pages to a destination buffer through a
 * bandwidth-limited link (a token bucket), first a full pass, then rounds
 * of sync (KVM_GET_DIRTY_LOG) and send until what is left fits the downtime
 * budget; then it stops the vCPUs, sends the rest and checks that the
 * destination equals the source byte for byte.  A mismatch fails the run:
 * a migration that loses a write is the worst bug kvm-split can have.
 *
 * Scenarios (-m, comma separated, each name[:chunk]):
 *   legacy       KVM_GET_DIRTY_LOG only: every sync write-protects the whole
 *                slot (upstream eager split at enable, eager_page_split=Y).
 *   clear:C      manual protect + initially-set; the sender clears the log
 *                in userspace chunks of C bytes just before sending a chunk,
 *                clearing only bits it fetched (seed 003's protocol: a
 *                per-memslot copy of the last fetched bitmap).  Huge pages
 *                are split inside the first KVM_CLEAR_DIRTY_LOG of each
 *                chunk, under mmu_lock held for write (upstream).
 *   split:C      clear:C after KVM_SPLIT_HUGE_PAGES split the slot to 4K
 *                before dirty logging starts (counted in the migration).
 *   cap:C        clear:C after lowering the slot to KVM_MEM_MAX_PAGE_4K
 *                (a flags-only update that splits in place).
 *   kchunk:C     one KVM_CLEAR_DIRTY_LOG of the whole slot per round, as a
 *                VMM unaware of chunking would do, with the in-kernel chunk
 *                KVM_CAP_CLEAR_DIRTY_LOG_CHUNK set to C.
 *
 * Each scenario runs -r times, each time on a fresh VM.  Printed per run: a
 * progress line per round, the result, and a "csv," line; at the end a
 * table like seed 003's.  scripts/migration-report.sh turns the csv lines
 * into a CSV file and a chart.  Timings are reported, never asserted.
 */
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <linux/bitmap.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define MAX_VCPUS	8
#define MAX_SCENARIOS	16
#define MAX_RUNS	10

/* Guest side: set by the host before the vCPUs start. */
static uint64_t guest_npages;
static uint64_t guest_nr_vcpus;
static uint64_t guest_cycles_per_write;	/* 0: as fast as it can */

/* Shared while running: the host reads and writes them through their HVA. */
static uint64_t guest_writes[MAX_VCPUS];
static bool guest_go, guest_stop;

/*
 * Populate this vCPU's share of the slot, report ready, wait for the host,
 * then write random pages at the given rate until told to stop.  Each
 * write stores a new value (vCPU, count) in a word of the page.
 */
static void guest_code(uint32_t idx, uint32_t seed)
{
	struct guest_random_state rng = new_guest_random_state(seed);
	uint64_t n = 0, next, now, i, burst;

	for (i = idx; i < guest_npages; i += guest_nr_vcpus)
		WRITE_ONCE(*(uint64_t *)(TEST_GPA + i * PAGE_SIZE), i);
	GUEST_SYNC(0);
	while (!READ_ONCE(guest_go))
		cpu_relax();

	/* A vCPU that fell behind catches up by at most 1 ms of writes. */
	burst = guest_tsc_khz;
	next = rdtsc();
	while (!READ_ONCE(guest_stop)) {
		uint64_t page = guest_random_u32(&rng) % guest_npages;
		uint64_t word = guest_random_u32(&rng) % (PAGE_SIZE / 8);

		if (guest_cycles_per_write) {
			now = rdtsc();
			if (now < next) {
				cpu_relax();
				continue;
			}
			next += guest_cycles_per_write;
			if (next + burst < now)
				next = now - burst;
		}
		WRITE_ONCE(*(uint64_t *)(TEST_GPA + page * PAGE_SIZE + word * 8),
			   (uint64_t)idx << 56 | ++n);
		WRITE_ONCE(guest_writes[idx], n);
	}
	GUEST_DONE();
}

enum mode { LEGACY, CLEAR, SPLIT, CAP, KCHUNK };
static const char * const mode_names[] = {
	[LEGACY] = "legacy", [CLEAR] = "clear", [SPLIT] = "split",
	[CAP] = "cap", [KCHUNK] = "kchunk",
};

struct scenario {
	char name[32];
	enum mode mode;
	uint64_t chunk;		/* pages: userspace clear chunk or kernel chunk */
};

struct result {
	double total_s, downtime_ms, sync_ms, max_clear_ms, progress;
	uint64_t sent, rounds, huge_start;
	bool converged;
};

/* Options. */
static uint64_t mem_size = 256ULL << 20;
static int nr_vcpus = 1;
static enum vm_mem_backing_src_type backing = VM_MEM_SRC_ANONYMOUS_HUGETLB;
static uint64_t link_mbps = 100;	/* MB/s */
static uint64_t dirty_mbps = 40;	/* MB/s of newly dirtied pages, per VM */
static uint64_t downtime_ms = 30;
static int max_rounds = 30;
static int nr_runs = 1;
static uint32_t seed;
static bool self_check;

/* One migration's state. */
static struct kvm_vm *vm;
static struct kvm_vcpu *vcpus[MAX_VCPUS];
static pthread_t threads[MAX_VCPUS];
static sem_t sem_ready;
static uint64_t npages;
static uint8_t *src, *dst;
static unsigned long *bmap;	/* pages to send */
static unsigned long *kcache;	/* bits fetched from KVM, not yet cleared */
static uint64_t link_next_ns, page_ns;

/* The selftests do not link tools/lib's find_bit.c and bitmap.c. */
static uint64_t next_bit(const unsigned long *map, uint64_t end, uint64_t i)
{
	unsigned long w;

	while (i < end) {
		w = map[i / BITS_PER_LONG] >> (i % BITS_PER_LONG);
		if (w)
			return min(end, i + __builtin_ctzl(w));
		i = round_down(i, BITS_PER_LONG) + BITS_PER_LONG;
	}
	return end;
}

static uint64_t count_bits(const unsigned long *map, uint64_t nbits)
{
	uint64_t i, n = 0;

	for (i = 0; i < BITS_TO_LONGS(nbits); i++)
		n += __builtin_popcountl(map[i]);
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	/* GUEST_SYNC once populated, GUEST_DONE once told to stop. */
	while (ks_vcpu_run(vcpu, &uc) == UCALL_SYNC)
		sem_post(&sem_ready);
	return NULL;
}

static uint64_t guest_writes_total(void)
{
	uint64_t *w = addr_gva2hva(vm, (vm_vaddr_t)guest_writes);
	uint64_t sum = 0;
	int i;

	for (i = 0; i < nr_vcpus; i++)
		sum += READ_ONCE(w[i]);
	return sum;
}

static void set_guest_flag(bool *flag)
{
	WRITE_ONCE(*(bool *)addr_gva2hva(vm, (vm_vaddr_t)flag), true);
}

/*
 * Send one page over the link: copy it, then wait until the link would
 * have carried it.  An idle link earns no credit beyond 2 ms of bursting.
 */
static void send_page(uint64_t page)
{
	uint64_t now;

	memcpy(dst + page * PAGE_SIZE, src + page * PAGE_SIZE, PAGE_SIZE);
	if (!page_ns)
		return;
	now = now_ns();
	if (link_next_ns + 2000000 < now)
		link_next_ns = now - 2000000;
	link_next_ns += page_ns;
	if (link_next_ns > now + 1000000) {
		struct timespec ts = {
			.tv_sec = (link_next_ns - now) / 1000000000ULL,
			.tv_nsec = (link_next_ns - now) % 1000000000ULL,
		};

		nanosleep(&ts, NULL);
	}
}

/*
 * Clear, in KVM, the bits of [first, first + num) that the last sync
 * fetched and that nobody cleared since: never a bit we did not see set,
 * or a write that happened after the sync could be lost (seed 003).
 * @first and @num are multiples of 64 (or @num ends the slot).
 */
static double clear_range(uint64_t first, uint64_t num)
{
	unsigned long *words = kcache + first / BITS_PER_LONG;
	uint64_t nwords = DIV_ROUND_UP(num, BITS_PER_LONG), i, t0;

	for (i = 0; i < nwords && !words[i]; i++)
		;
	if (i == nwords)
		return 0;
	t0 = now_ns();
	kvm_vm_clear_dirty_log(vm, TEST_SLOT, words, first, num);
	memset(words, 0, nwords * sizeof(*words));
	return (now_ns() - t0) / 1e6;
}

/* One send pass over the pages in bmap, clearing chunk by chunk first. */
static void send_pass(const struct scenario *sc, struct result *res)
{
	uint64_t chunk = sc->mode == LEGACY ? npages : sc->chunk;
	uint64_t first, page;
	double ms;

	if (sc->mode == KCHUNK) {
		ms = clear_range(0, npages);
		res->sync_ms += ms;
		res->max_clear_ms = max(res->max_clear_ms, ms);
		chunk = npages;
	}
	for (first = 0; first < npages; first += chunk) {
		uint64_t end = min(first + chunk, npages);

		page = next_bit(bmap, end, first);
		if (page >= end)
			continue;
		if (sc->mode != LEGACY && sc->mode != KCHUNK) {
			ms = clear_range(first, end - first);
			res->sync_ms += ms;
			res->max_clear_ms = max(res->max_clear_ms, ms);
		}
		for (; page < end; page = next_bit(bmap, end, page + 1)) {
			__clear_bit(page, bmap);
			send_page(page);
			res->sent++;
		}
	}
}

/* Fetch the log: what is dirty in KVM is to be sent (and may be cleared). */
static void sync_log(struct result *res)
{
	uint64_t t0 = now_ns(), i;

	kvm_vm_get_dirty_log(vm, TEST_SLOT, kcache);
	for (i = 0; i < BITS_TO_LONGS(npages); i++)
		bmap[i] |= kcache[i];
	res->sync_ms += (now_ns() - t0) / 1e6;
}

/* The first page whose copy differs from the source, or npages. */
static uint64_t first_difference(void)
{
	uint64_t i;

	if (!memcmp(dst, src, mem_size))
		return npages;
	for (i = 0; i < npages; i++)
		if (memcmp(dst + i * PAGE_SIZE, src + i * PAGE_SIZE, PAGE_SIZE))
			break;
	return i;
}

/*
 * -X: leave out of the final send one page that is dirty and differs from
 * its copy, as a lost dirty bit would, to show the verifier catches it.
 */
static uint64_t drop_a_dirty_page(void)
{
	uint64_t i;

	for (i = next_bit(bmap, npages, 0); i < npages;
	     i = next_bit(bmap, npages, i + 1))
		if (memcmp(dst + i * PAGE_SIZE, src + i * PAGE_SIZE, PAGE_SIZE) &&
		    first_difference() == i)
			break;
	TEST_ASSERT(i < npages, "self-check: no dirty page left to drop");
	__clear_bit(i, bmap);
	return i;
}

static void split_slot(void)
{
	struct kvm_split_huge_pages args = {
		.slot = TEST_SLOT,
		.num_pages = npages,
		.page_size = PAGE_SIZE,
	};

	/*
	 * As on KVM_PRE_FAULT_MEMORY: 0 with progress, or EINTR with none if
	 * a signal came first; loop until the range is done.
	 */
	while (args.num_pages) {
		int r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);

		TEST_ASSERT(!r || errno == EINTR,
			    "KVM_SPLIT_HUGE_PAGES failed: %s", strerror(errno));
	}
}

static void create_vm(const struct scenario *sc)
{
	int i;

	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, nr_vcpus, npages,
				    guest_code, vcpus);
	ks_sync_tsc_khz(vm);
	if (sc->mode != LEGACY)
		vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
			      KVM_DIRTY_LOG_INITIALLY_SET);
	if (sc->mode == CAP)
		vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
			      KVM_MEM_MAX_PAGE_4K);
	if (sc->mode == KCHUNK)
		vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, sc->chunk);
	vm_userspace_mem_region_add(vm, backing, TEST_GPA, TEST_SLOT, npages, 0);
	virt_map(vm, TEST_GPA, TEST_GPA, npages);
	src = addr_gpa2hva(vm, TEST_GPA);

	guest_npages = npages;
	guest_nr_vcpus = nr_vcpus;
	guest_cycles_per_write = dirty_mbps ?
		guest_tsc_khz * 1000 / (dirty_mbps * 1000000 / PAGE_SIZE /
					nr_vcpus) : 0;
	sync_global_to_guest(vm, guest_npages);
	sync_global_to_guest(vm, guest_nr_vcpus);
	sync_global_to_guest(vm, guest_cycles_per_write);
	for (i = 0; i < nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 2, i, seed + i);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	for (i = 0; i < nr_vcpus; i++)
		sem_wait(&sem_ready);
}

static void migrate(const struct scenario *sc, int run, struct result *res)
{
	uint64_t pending, t_start, t_stop, t_end, w_start, w_stop, t0, base;
	uint64_t sent_before, dropped = 0, i;
	double pass_s;

	memset(res, 0, sizeof(*res));
	create_vm(sc);
	res->huge_start = vm_get_stat(vm, "pages_2m") +
			  vm_get_stat(vm, "pages_1g");

	/* The vCPUs' write rate before migration, to compare with. */
	set_guest_flag(&guest_go);
	usleep(200000);
	t0 = now_ns();
	base = guest_writes_total();
	usleep(500000);
	base = (guest_writes_total() - base) * 1000000000ULL / (now_ns() - t0);

	t_start = now_ns();
	w_start = guest_writes_total();
	if (sc->mode == SPLIT)
		split_slot();
	if (sc->mode == CAP)
		vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES |
				(sc->mode == CAP ? KVM_MEM_MAX_PAGE_4K : 0));

	/* Everything is to be sent once; then what got dirty meanwhile. */
	bitmap_fill(bmap, npages);
	link_next_ns = now_ns();
	for (;;) {
		sync_log(res);
		pending = count_bits(bmap, npages);
		if (pending * PAGE_SIZE <= link_mbps * 1000 * downtime_ms) {
			res->converged = true;
			break;
		}
		if (res->rounds == max_rounds)
			break;
		t0 = now_ns();
		sent_before = res->sent;
		send_pass(sc, res);
		res->rounds++;
		pass_s = (now_ns() - t0) / 1e9;
		printf("  [%s run %d] round %lu: %lu dirty pages left, sent %.1f MiB at %.0f MB/s, vCPU %.0f writes/s\n",
		       sc->name, run, res->rounds, pending,
		       (res->sent - sent_before) * PAGE_SIZE / 1048576.0,
		       (res->sent - sent_before) * PAGE_SIZE / 1e6 / pass_s,
		       (guest_writes_total() - w_start) /
		       ((now_ns() - t_start) / 1e9));
		fflush(stdout);
	}

	/* Stop the vCPUs, send the rest: the downtime. */
	t_stop = now_ns();
	w_stop = guest_writes_total();
	set_guest_flag(&guest_stop);
	for (i = 0; i < nr_vcpus; i++)
		pthread_join(threads[i], NULL);
	sync_log(res);
	if (self_check)
		dropped = drop_a_dirty_page();
	send_pass(&(struct scenario){ .mode = LEGACY }, res);
	t_end = now_ns();

	res->total_s = (t_end - t_start) / 1e9;
	res->downtime_ms = (t_end - t_stop) / 1e6;
	res->progress = base ? 100.0 * (w_stop - w_start) * 1e9 /
			       (t_stop - t_start) / base : 0;

	/* The destination must be the source, byte for byte. */
	i = first_difference();
	if (self_check) {
		TEST_ASSERT(i == dropped,
			    "self-check: dropped page %lu, verifier found %lu",
			    dropped, i);
		printf("  [%s run %d] self-check: the verifier caught the page dropped on purpose (%lu)\n",
		       sc->name, run, dropped);
		memcpy(dst + i * PAGE_SIZE, src + i * PAGE_SIZE, PAGE_SIZE);
		i = first_difference();
	}
	TEST_ASSERT(i == npages,
		    "%s run %d: page %lu differs at the destination: a lost write",
		    sc->name, run, i);

	printf("  [%s run %d] total %.2f s, downtime %.1f ms, %lu pages sent in %lu rounds%s, vCPU progress %.0f%% of %lu writes/s, sync+clear %.0f ms (longest clear %.1f ms), %lu huge mappings at start; destination verified: %lu MiB identical\n",
	       sc->name, run, res->total_s, res->downtime_ms, res->sent,
	       res->rounds, res->converged ? "" : " (not converged)",
	       res->progress, base, res->sync_ms, res->max_clear_ms,
	       res->huge_start, mem_size >> 20);
	printf("csv,%s,%d,%.3f,%.2f,%lu,%lu,%.1f,%.1f,%.2f,%d\n", sc->name,
	       run, res->total_s, res->downtime_ms, res->sent, res->rounds,
	       res->progress, res->sync_ms, res->max_clear_ms, res->converged);
	fflush(stdout);
	kvm_vm_free(vm);
	memset(dst, 0, mem_size);
}

static uint64_t parse_bytes(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g':
		v <<= 30;
		break;
	case 'M': case 'm':
		v <<= 20;
		break;
	case 'K': case 'k':
		v <<= 10;
		break;
	case '\0':
		break;
	default:
		TEST_FAIL("bad size '%s'", s);
	}
	return v;
}

static int parse_scenarios(char *list, struct scenario *sc)
{
	char *tok, *save;
	int n = 0, m;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		uint64_t chunk = 16ULL << 20;

		TEST_ASSERT(n < MAX_SCENARIOS, "too many scenarios");
		snprintf(sc[n].name, sizeof(sc[n].name), "%s", tok);
		if (colon) {
			*colon = '\0';
			chunk = parse_bytes(colon + 1);
		}
		for (m = 0; m < ARRAY_SIZE(mode_names); m++)
			if (!strcmp(tok, mode_names[m]))
				break;
		TEST_ASSERT(m < ARRAY_SIZE(mode_names), "unknown scenario '%s'", tok);
		TEST_ASSERT(chunk >= 64 * PAGE_SIZE && !(chunk & (chunk - 1)),
			    "chunk of '%s': a power of two >= 256K", sc[n].name);
		sc[n].mode = m;
		sc[n].chunk = chunk / PAGE_SIZE;
		n++;
	}
	return n;
}

static void help(const char *name)
{
	printf("usage: %s [-m scenarios] [-b size] [-v vcpus] [-s backing] [-B link MB/s]\n"
	       "          [-w dirty MB/s] [-d downtime ms] [-I max rounds] [-r runs] [-S seed]\n"
	       " -m  comma-separated scenarios name[:chunk], names legacy, clear, split,\n"
	       "     cap, kchunk; chunk a power of two >= 256K (default 16M)\n"
	       "     (default: legacy,clear:16M,split:16M,cap:16M,kchunk:16M)\n"
	       " -b  guest memory migrated (default 256M)\n"
	       " -v  vCPUs writing (default 1, at most %d)\n"
	       " -B  link bandwidth in MB/s (default 100; 0: unlimited)\n"
	       " -w  dirty rate limit of the guest in MB/s (default 40; 0: unlimited)\n"
	       " -d  downtime budget in ms (default 30)\n"
	       " -I  rounds before forcing the stop (default 30)\n"
	       " -r  runs of each scenario (default 1, at most %d)\n"
	       " -X  self-check: drop one dirty page from the final send and\n"
	       "     require the verifier to catch it\n",
	       name, MAX_VCPUS, MAX_RUNS);
	backing_src_help("-s");
	exit(0);
}

int main(int argc, char *argv[])
{
	static struct result res[MAX_SCENARIOS][MAX_RUNS];
	char def[] = "legacy,clear:16M,split:16M,cap:16M,kchunk:16M";
	struct scenario sc[MAX_SCENARIOS];
	char *list = def;
	int nsc, s, r, opt;

	seed = time(NULL);
	while ((opt = getopt(argc, argv, "hm:b:v:s:B:w:d:I:r:S:X")) != -1) {
		switch (opt) {
		case 'm':
			list = optarg;
			break;
		case 'b':
			mem_size = parse_bytes(optarg);
			break;
		case 'v':
			nr_vcpus = atoi_positive("vCPUs", optarg);
			break;
		case 's':
			backing = parse_backing_src_type(optarg);
			break;
		case 'B':
			link_mbps = atoll(optarg);
			break;
		case 'w':
			dirty_mbps = atoll(optarg);
			break;
		case 'd':
			downtime_ms = atoll(optarg);
			break;
		case 'I':
			max_rounds = atoi_positive("rounds", optarg);
			break;
		case 'r':
			nr_runs = atoi_positive("runs", optarg);
			break;
		case 'S':
			seed = atoll(optarg);
			break;
		case 'X':
			self_check = true;
			break;
		default:
			help(argv[0]);
		}
	}
	TEST_ASSERT(nr_vcpus <= MAX_VCPUS && nr_runs <= MAX_RUNS,
		    "at most %d vCPUs and %d runs", MAX_VCPUS, MAX_RUNS);
	TEST_ASSERT(mem_size && !(mem_size % (2ULL << 20)),
		    "-b: a multiple of 2 MiB");
	nsc = parse_scenarios(list, sc);
	for (s = 0; s < nsc; s++) {
		if (sc[s].mode == SPLIT)
			__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
				       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded?)");
		if (sc[s].mode == CAP)
			__TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMSLOT_PAGE_SIZES) &
				       KVM_MEM_MAX_PAGE_4K,
				       "KVM_MEM_MAX_PAGE_4K not supported (kvm-split not loaded?)");
		if (sc[s].mode == KCHUNK)
			__TEST_REQUIRE(kvm_has_cap(KVM_CAP_CLEAR_DIRTY_LOG_CHUNK),
				       "KVM_CAP_CLEAR_DIRTY_LOG_CHUNK not supported (kvm-split not loaded?)");
	}

	npages = mem_size / PAGE_SIZE;
	page_ns = link_mbps ? PAGE_SIZE * 1000ULL / link_mbps : 0;
	dst = calloc(1, mem_size);
	bmap = bitmap_zalloc(npages);
	kcache = bitmap_zalloc(npages);
	TEST_ASSERT(dst && bmap && kcache, "out of memory");
	sem_init(&sem_ready, 0, 0);

	pr_info("migration model: %lu MiB (%s), %d vCPU(s) dirtying at most %lu MB/s, link %lu MB/s, downtime %lu ms, seed %u\n",
		mem_size >> 20, vm_mem_backing_src_alias(backing)->name,
		nr_vcpus, dirty_mbps, link_mbps, downtime_ms, seed);
	printf("csv,scenario,run,total_s,downtime_ms,pages_sent,rounds,vcpu_progress_pct,sync_clear_ms,longest_clear_ms,converged\n");
	for (s = 0; s < nsc; s++)
		for (r = 0; r < nr_runs; r++)
			migrate(&sc[s], r + 1, &res[s][r]);

	printf("\n%-14s | %-*s | average | downtime | pages sent | vCPU progress\n",
	       "scenario", nr_runs * 7, "migration times (s)");
	for (s = 0; s < nsc; s++) {
		double t = 0, d = 0, p = 0, n = 0;

		printf("%-14s | ", sc[s].name);
		for (r = 0; r < nr_runs; r++) {
			printf("%6.2f ", res[s][r].total_s);
			t += res[s][r].total_s;
			d += res[s][r].downtime_ms;
			n += res[s][r].sent;
			p += res[s][r].progress;
		}
		printf("| %7.2f | %5.1f ms | %10.0f | %5.0f%%\n", t / nr_runs,
		       d / nr_runs, n / nr_runs, p / nr_runs);
	}
	printf("all %d migrations verified: destination identical to source%s\n",
	       nsc * nr_runs,
	       self_check ? " (after the verifier caught each dropped page)" : "");
	return 0;
}
