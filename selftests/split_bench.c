// SPDX-License-Identifier: GPL-2.0
/*
 * split_bench: KVM_SPLIT_HUGE_PAGES and the memslot page-size cap against
 * upstream's eager page splitting at dirty-log enable.
 *
 * One hugetlb-backed memslot (-b bytes, 2 MiB and/or 1 GiB pages, -s) that
 * the guest fills first, so that KVM maps it with huge pages.  Modes (-m,
 * comma separated):
 *
 *   first-write  (issue #4.1) Dirty logging is enabled, then the vCPU
 *                writes every 4 KiB page once.  Three ways: "ioctl"
 *                (KVM_SPLIT_HUGE_PAGES to 4K, then enable, as a VMM using
 *                kvm-split would), "lazy" (kvm.eager_page_split=N: huge
 *                pages are split by the vCPU's write faults) and "eager"
 *                (eager_page_split=Y, upstream's default: split at enable).
 *                Reports the times and the huge pages split inside vCPU
 *                faults, from pages_1g/pages_2m during the vCPU pass.
 *   throughput   (#4.2) The ioctl against the enable with eager split, on
 *                the same pages, -r times: time, mappings split per second,
 *                time per GiB.  The enable also write-protects; enabling
 *                after the ioctl measures that part alone.
 *   stall        (#4.3) A vCPU writes the slot in a loop, timing each
 *                write with rdtsc, while the host runs the ioctl or the
 *                eager enable: longest gap between two writes and writes
 *                per ms, against two control windows (-w ms) measured just
 *                before on the same slot: the host thread idle, and the
 *                host thread spinning without entering KVM (under TCG the
 *                vCPUs of the test VM share one host thread, so any busy
 *                CPU slows the writer down).
 *   cap          (#3) Same, for the flags-only update that lowers the slot
 *                from 2M to KVM_MEM_MAX_PAGE_4K against the eager enable
 *                (2 MiB backing only).
 *
 * The program flips /sys/module/kvm/parameters/eager_page_split itself and
 * restores it on exit.  The guest's data is checked after every phase, and
 * the statistics each result relies on are asserted; timings are reported,
 * never judged.  Every measurement runs -r times on a fresh slot; the
 * tables give medians.
 */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <sys/prctl.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)

#define SZ_4K		(1ULL << 12)
#define SZ_2M		(1ULL << 21)
#define SZ_1G		(1ULL << 30)
#define PAGES_PER_2M	(SZ_2M / SZ_4K)

#define EAGER_PARAM	"/sys/module/kvm/parameters/eager_page_split"

enum { CMD_PASS = 1, CMD_WRITER };

/* Set by the host before the vCPU runs. */
static uint64_t guest_npages;
static uint64_t guest_cmd;
static uint64_t guest_gen;

/* The writer's state, shared with the host through its HVA. */
struct writer_state {
	uint64_t stop;
	uint64_t reset_req, reset_ack;
	uint64_t writes;
	uint64_t max_gap;	/* TSC cycles since the last reset */
};
static struct writer_state guest_ws;

static inline uint64_t value(uint64_t gen, uint64_t page)
{
	return gen << 32 | page;
}

static void guest_pass(void)
{
	uint64_t gen = READ_ONCE(guest_gen), i;

	for (i = 0; i < guest_npages; i++)
		WRITE_ONCE(*(uint64_t *)(TEST_GPA + i * PAGE_SIZE),
			   value(gen, i));
}

/*
 * Write the pages round and round until told to stop, timing each write:
 * the longest gap between two writes is the longest the vCPU was held up.
 */
static void guest_writer(void)
{
	struct writer_state *ws = &guest_ws;
	uint64_t gen = READ_ONCE(guest_gen), i = 0, last, now;

	last = rdtsc();
	while (!READ_ONCE(ws->stop)) {
		uint64_t req = READ_ONCE(ws->reset_req);

		if (req != ws->reset_ack) {
			WRITE_ONCE(ws->max_gap, 0);
			last = rdtsc();
			WRITE_ONCE(ws->reset_ack, req);
		}
		WRITE_ONCE(*(uint64_t *)(TEST_GPA + i * PAGE_SIZE),
			   value(gen, i));
		now = rdtsc();
		if (now - last > ws->max_gap)
			WRITE_ONCE(ws->max_gap, now - last);
		last = now;
		WRITE_ONCE(ws->writes, ws->writes + 1);
		if (++i == guest_npages)
			i = 0;
	}
}

static void guest_code(void)
{
	for (;;) {
		GUEST_SYNC(0);
		switch (READ_ONCE(guest_cmd)) {
		case CMD_PASS:
			guest_pass();
			break;
		case CMD_WRITER:
			guest_writer();
			break;
		}
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static struct writer_state *ws;		/* the guest's, through its HVA */
static uint64_t *mem;			/* the slot, through its HVA */
static uint64_t size, npages, tsc_khz;
static enum vm_mem_backing_src_type backing;
static uint64_t huge;			/* backing page size */
static uint64_t gen;			/* last generation written */
static bool have_slot;
static bool eager_saved;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double ms(uint64_t ns)
{
	return ns / 1e6;
}

static void set_eager(bool on)
{
	ks_write_param(EAGER_PARAM, on ? "Y" : "N");
}

static void restore_eager(void)
{
	set_eager(eager_saved);
}

struct stats {
	uint64_t p4k, p2m, p1g, s2m, s1g;
};

static struct stats get_stats(void)
{
	return (struct stats){
		.p4k = vm_get_stat(vm, "pages_4k"),
		.p2m = vm_get_stat(vm, "pages_2m"),
		.p1g = vm_get_stat(vm, "pages_1g"),
		.s2m = vm_get_stat(vm, "split_huge_2m"),
		.s1g = vm_get_stat(vm, "split_huge_1g"),
	};
}

/* Mappings of the slot when it is mapped huge. */
static uint64_t nr_huge_1g(void)
{
	return huge == SZ_1G ? size / SZ_1G : 0;
}

static uint64_t nr_huge_2m(void)
{
	return huge == SZ_2M ? size / SZ_2M : 0;
}

/* The 1G and 2M splits it takes to map the whole slot with 4K pages. */
static uint64_t splits_1g(void)
{
	return nr_huge_1g();
}

static uint64_t splits_2m(void)
{
	return size / SZ_2M;
}

static void run_cmd(uint64_t cmd)
{
	struct ucall uc;

	WRITE_ONCE(*(uint64_t *)addr_gva2hva(vm, (vm_vaddr_t)&guest_cmd), cmd);
	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
}

static void set_gen(uint64_t g)
{
	gen = g;
	WRITE_ONCE(*(uint64_t *)addr_gva2hva(vm, (vm_vaddr_t)&guest_gen), g);
}

/* Every page holds generation @g (or, with @g2, one of @g and @g2). */
static void check_data(uint64_t g, uint64_t g2)
{
	uint64_t i;

	for (i = 0; i < npages; i++) {
		uint64_t v = mem[i * PAGE_SIZE / 8];

		TEST_ASSERT(v == value(g, i) || (g2 && v == value(g2, i)),
			    "page %lu holds %#lx, expected %#lx%s", i, v,
			    value(g, i), g2 ? " or the writer's value" : "");
	}
}

/* One vCPU pass writing a new generation; returns its duration in ns. */
static uint64_t vcpu_pass(void)
{
	uint64_t t;

	set_gen(gen + 1);
	t = now_ns();
	run_cmd(CMD_PASS);
	t = now_ns() - t;
	check_data(gen, 0);
	return t;
}

/* A fresh slot on fresh memory, written once by the vCPU: mapped huge. */
static void fresh_slot(void)
{
	struct stats b, a;

	if (have_slot)
		vm_mem_region_delete(vm, TEST_SLOT);
	have_slot = true;
	vm_userspace_mem_region_add(vm, backing, TEST_GPA, TEST_SLOT, npages, 0);
	mem = addr_gpa2hva(vm, TEST_GPA);

	b = get_stats();
	vcpu_pass();
	a = get_stats();
	TEST_ASSERT(a.p1g - b.p1g == nr_huge_1g() &&
		    a.p2m - b.p2m == nr_huge_2m(),
		    "slot not mapped huge: +%lu 1G, +%lu 2M", a.p1g - b.p1g,
		    a.p2m - b.p2m);
}

static void set_flags(uint32_t flags)
{
	vm_mem_region_set_flags(vm, TEST_SLOT, flags);
}

/* KVM_SPLIT_HUGE_PAGES of the whole slot to 4K; returns ns. */
static uint64_t split_ioctl(void)
{
	struct kvm_split_huge_pages args = {
		.slot = TEST_SLOT,
		.num_pages = npages,
		.page_size = SZ_4K,
	};
	struct stats b = get_stats(), a;
	uint64_t t = now_ns();

	/* Loop as a VMM does: a call may return 0 early (a signal). */
	do {
		vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
	} while (args.num_pages);
	t = now_ns() - t;
	a = get_stats();
	TEST_ASSERT_EQ(args.num_pages, 0);
	TEST_ASSERT_EQ(args.split, splits_1g() + splits_2m());
	TEST_ASSERT_EQ(a.s1g - b.s1g, splits_1g());
	TEST_ASSERT_EQ(a.s2m - b.s2m, splits_2m());
	TEST_ASSERT_EQ(b.p4k + npages, a.p4k);
	return t;
}

/*
 * Enable dirty logging (KVM_MEM_LOG_DIRTY_PAGES, no manual protect: the
 * whole slot is write-protected); returns ns.  With @split, upstream's
 * eager split must have left no huge mapping.
 */
static uint64_t enable_dirty_log(bool eager, bool split)
{
	struct stats b, a;
	uint64_t t;

	set_eager(eager);
	b = get_stats();
	t = now_ns();
	set_flags(KVM_MEM_LOG_DIRTY_PAGES);
	t = now_ns() - t;
	a = get_stats();
	if (split) {
		TEST_ASSERT_EQ(b.p1g - a.p1g, nr_huge_1g());
		TEST_ASSERT_EQ(b.p2m - a.p2m, nr_huge_2m());
		TEST_ASSERT_EQ(a.p4k - b.p4k, npages);
	}
	return t;
}

/* Lower the slot's cap to 4K (flags-only update); returns ns. */
static uint64_t lower_cap(void)
{
	struct stats b = get_stats(), a;
	uint64_t t = now_ns();

	set_flags(KVM_MEM_MAX_PAGE_4K);
	t = now_ns() - t;
	a = get_stats();
	TEST_ASSERT_EQ(a.s1g - b.s1g, splits_1g());
	TEST_ASSERT_EQ(a.s2m - b.s2m, splits_2m());
	TEST_ASSERT_EQ(a.p4k - b.p4k, npages);
	return t;
}

/* After the vCPU wrote every page: every page is dirty in the log. */
static void check_dirty_log(void)
{
	unsigned long *bm = calloc(npages / 8, 1);
	uint64_t i;

	TEST_ASSERT(bm, "calloc");
	kvm_vm_get_dirty_log(vm, TEST_SLOT, bm);
	for (i = 0; i < npages / 64; i++)
		TEST_ASSERT(bm[i] == ~0UL, "dirty log word %lu is %#lx", i,
			    bm[i]);
	free(bm);
}

static const char *backing_name(void)
{
	return huge == SZ_1G ? "1G" : "2M";
}

/* Results, printed as tables at the end. */
#define MAX_ROWS	32
static char rows[MAX_ROWS][256];
static int nr_rows;
static char thead[4][256];

static void row(int table, const char *head, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (head && !thead[table][0])
		snprintf(thead[table], sizeof(thead[table]), "%s", head);
	TEST_ASSERT(nr_rows < MAX_ROWS, "too many rows");
	n = snprintf(rows[nr_rows], sizeof(rows[0]), "%d|", table);
	va_start(ap, fmt);
	vsnprintf(rows[nr_rows] + n, sizeof(rows[0]) - n, fmt, ap);
	va_end(ap);
	nr_rows++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define MAX_REPS	16

/* Sorts @v in place. */
static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return v[n / 2];
}

/* "median (min-max)" of @n durations in ns, printed in ms. */
static const char *ms_range(uint64_t *v, int n)
{
	static char buf[4][64];
	static int i;
	uint64_t m = median(v, n);

	i = (i + 1) % 4;
	if (n == 1)
		snprintf(buf[i], sizeof(buf[i]), "%.1f", ms(m));
	else
		snprintf(buf[i], sizeof(buf[i]), "%.1f (%.1f-%.1f)", ms(m),
			 ms(v[0]), ms(v[n - 1]));
	return buf[i];
}

/* #4.1: vCPUs' first write pass after dirty logging is enabled. */
static void bench_first_write(int reps)
{
	static const char * const ways[] = { "ioctl", "lazy", "eager" };
	int w, r;

	for (w = 0; w < ARRAY_SIZE(ways); w++) {
		uint64_t t_split[MAX_REPS] = {}, t_enable[MAX_REPS];
		uint64_t t_pass[MAX_REPS], t_total[MAX_REPS], f1g = 0, f2m = 0;

		for (r = 0; r < reps; r++) {
			struct stats b, a;

			fresh_slot();
			if (w == 0) {
				t_split[r] = split_ioctl();
				t_enable[r] = enable_dirty_log(true, false);
			} else {
				t_enable[r] = enable_dirty_log(w == 2, w == 2);
			}

			b = get_stats();
			t_pass[r] = vcpu_pass();
			a = get_stats();
			check_dirty_log();
			set_flags(0);
			t_total[r] = t_split[r] + t_enable[r] + t_pass[r];

			/*
			 * Splits inside vCPU faults: each 1G split adds 512
			 * 2M mappings, each 2M split removes one.
			 */
			f1g = b.p1g - a.p1g;
			f2m = b.p2m + f1g * 512 - a.p2m;
			TEST_ASSERT_EQ(a.s1g, b.s1g);
			TEST_ASSERT_EQ(a.s2m, b.s2m);
			if (w == 1)
				TEST_ASSERT(f1g == splits_1g() &&
					    f2m == splits_2m(),
					    "lazy: %lu 1G and %lu 2M splits in faults, expected %lu and %lu",
					    f1g, f2m, splits_1g(), splits_2m());
			else
				TEST_ASSERT(!f1g && !f2m,
					    "%s: %lu 1G and %lu 2M splits in vCPU faults",
					    ways[w], f1g, f2m);

			pr_info("first-write %s %s rep %d: split %.1f ms, enable %.1f ms, vCPU pass %.1f ms, splits in faults %lu 1G + %lu 2M\n",
				backing_name(), ways[w], r, ms(t_split[r]),
				ms(t_enable[r]), ms(t_pass[r]), f1g, f2m);
		}
		row(0, "backing|way|split ioctl ms|enable ms|vCPU pass ms|total ms|1G + 2M splits in vCPU faults",
		    "%s|%s|%s|%s|%s|%s|%lu + %lu", backing_name(), ways[w],
		    w ? "-" : ms_range(t_split, reps),
		    ms_range(t_enable, reps), ms_range(t_pass, reps),
		    ms_range(t_total, reps), f1g, f2m);
	}
}

/* #4.2: split throughput, the ioctl against the eager enable. */
static void bench_throughput(int reps)
{
	uint64_t ioctl[MAX_REPS], after[MAX_REPS], eager[MAX_REPS];
	uint64_t nsplit = splits_1g() + splits_2m(), mi, ma, me;
	double gib = (double)size / SZ_1G;
	int r;

	for (r = 0; r < reps; r++) {
		fresh_slot();
		ioctl[r] = split_ioctl();
		after[r] = enable_dirty_log(true, false);
		set_flags(0);

		fresh_slot();
		eager[r] = enable_dirty_log(true, true);
		set_flags(0);
		pr_info("throughput %s rep %d: ioctl %.1f ms, enable after it %.1f ms, eager enable %.1f ms\n",
			backing_name(), r, ms(ioctl[r]), ms(after[r]),
			ms(eager[r]));
	}
	mi = median(ioctl, reps);
	ma = median(after, reps);
	me = median(eager, reps);

	row(1, "backing|operation|ms: median (min-max)|huge mappings split per s|ms per GiB",
	    "%s|KVM_SPLIT_HUGE_PAGES|%s|%.0f|%.1f", backing_name(),
	    ms_range(ioctl, reps), nsplit / (mi / 1e9), ms(mi) / gib);
	row(1, NULL, "%s|enable, eager_page_split=Y|%s|-|%.1f", backing_name(),
	    ms_range(eager, reps), ms(me) / gib);
	row(1, NULL, "%s|enable after the ioctl (write-protect only)|%s|-|%.1f",
	    backing_name(), ms_range(after, reps), ms(ma) / gib);
	if (me > ma)
		row(1, NULL, "%s|eager split part (difference of medians)|%.1f|%.0f|%.1f",
		    backing_name(), ms(me - ma), nsplit / ((me - ma) / 1e9),
		    ms(me - ma) / gib);
}

/* The vCPU thread running the writer. */
static void *writer_thread(void *arg)
{
	run_cmd(CMD_WRITER);
	return NULL;
}

static void writer_reset(void)
{
	uint64_t req = READ_ONCE(ws->reset_req) + 1;

	WRITE_ONCE(ws->reset_req, req);
	while (READ_ONCE(ws->reset_ack) != req)
		usleep(100);
}

/* Let the writer make some progress, so that a gap that ended is seen. */
static void writer_settle(void)
{
	uint64_t w = READ_ONCE(ws->writes), t = now_ns();

	while (READ_ONCE(ws->writes) < w + 16 && now_ns() - t < 2000000000ULL)
		usleep(100);
}

struct window {
	uint64_t ns, writes, max_gap_us;
};

static uint64_t tsc_to_us(uint64_t cycles)
{
	return cycles * 1000 / tsc_khz;
}

enum op { OP_IDLE, OP_SPIN, OP_IOCTL, OP_EAGER, OP_CAP };

static const char * const op_names[] = {
	[OP_IDLE] = "host thread idle",
	[OP_SPIN] = "host thread spinning",
	[OP_IOCTL] = "KVM_SPLIT_HUGE_PAGES",
	[OP_EAGER] = "enable dirty log, eager_page_split=Y",
	[OP_CAP] = "KVM_MEM_MAX_PAGE_4K flags-only update",
};

/*
 * Run @op while the writer runs: the op's duration, the writes the vCPU
 * made meanwhile and its longest gap between two writes.  OP_IDLE and
 * OP_SPIN are controls: the host thread sleeps, or burns its CPU without
 * entering KVM, for @ns.
 */
static struct window measure(enum op op, uint64_t ns)
{
	struct window win;
	uint64_t w0, t0;

	writer_reset();
	w0 = READ_ONCE(ws->writes);
	t0 = now_ns();
	switch (op) {
	case OP_IDLE:
		while (now_ns() - t0 < ns)
			usleep(1000);
		break;
	case OP_SPIN:
		while (now_ns() - t0 < ns)
			;
		break;
	case OP_IOCTL:
		split_ioctl();
		break;
	case OP_EAGER:
		enable_dirty_log(true, true);
		break;
	case OP_CAP:
		lower_cap();
		break;
	}
	win.ns = now_ns() - t0;
	win.writes = READ_ONCE(ws->writes) - w0;
	writer_settle();
	win.max_gap_us = tsc_to_us(READ_ONCE(ws->max_gap));
	return win;
}

static uint64_t per_ms(const struct window *w)
{
	return w->writes * 1000000 / w->ns;
}

/*
 * #4.3 and #3: how much a writing vCPU is held up by @op, against the
 * same vCPU while the host thread idles and while it spins for @ctl_ns
 * (measured first, on the same fresh slot, before dirty logging is on).
 */
static void bench_concurrent(int table, enum op op, int reps,
			     uint64_t ctl_ns)
{
	uint64_t t[MAX_REPS], rate[MAX_REPS], gap[MAX_REPS];
	uint64_t irate[MAX_REPS], igap[MAX_REPS], srate[MAX_REPS];
	uint64_t sgap[MAX_REPS], worst = 0;
	pthread_t thread;
	int r;

	for (r = 0; r < reps; r++) {
		struct window busy, idle, spin;

		fresh_slot();
		if (op == OP_CAP)
			vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
				      KVM_MEM_MAX_PAGE_4K);
		set_gen(gen + 1);
		WRITE_ONCE(ws->stop, 0);
		WRITE_ONCE(ws->writes, 0);
		pthread_create(&thread, NULL, writer_thread, NULL);
		while (!READ_ONCE(ws->writes))
			usleep(1000);

		idle = measure(OP_IDLE, ctl_ns);
		spin = measure(OP_SPIN, ctl_ns);
		busy = measure(op, 0);

		WRITE_ONCE(ws->stop, 1);
		pthread_join(thread, NULL);
		check_data(gen, gen - 1);
		set_flags(0);

		pr_info("%s %s rep %d: %.1f ms, writer %lu writes/ms, longest gap %lu us; idle: %lu writes/ms, %lu us; spinning: %lu writes/ms, %lu us\n",
			op_names[op], backing_name(), r, ms(busy.ns),
			per_ms(&busy), busy.max_gap_us, per_ms(&idle),
			idle.max_gap_us, per_ms(&spin), spin.max_gap_us);
		t[r] = busy.ns;
		rate[r] = per_ms(&busy);
		gap[r] = busy.max_gap_us;
		irate[r] = per_ms(&idle);
		igap[r] = idle.max_gap_us;
		srate[r] = per_ms(&spin);
		sgap[r] = spin.max_gap_us;
		worst = max(worst, busy.max_gap_us);
	}
	row(table, "backing|operation|op ms|vCPU writes/ms during op|longest vCPU gap us during op (worst)|control, host spinning: writes/ms, gap us|control, host idle: writes/ms, gap us",
	    "%s|%s|%s|%lu|%lu (%lu)|%lu, %lu|%lu, %lu", backing_name(),
	    op_names[op], ms_range(t, reps), median(rate, reps),
	    median(gap, reps), worst, median(srate, reps),
	    median(sgap, reps), median(irate, reps), median(igap, reps));
}

static void print_tables(void)
{
	static const char * const titles[] = {
		"first-write (#4.1): vCPU writes every page once after dirty logging is enabled",
		"throughput (#4.2): splitting the whole slot to 4K",
		"stall (#4.3): a vCPU writing the slot while it is split",
		"cap (#3): lowering the slot from 2M to 4K",
	};
	int t, i;

	for (t = 0; t < ARRAY_SIZE(titles); t++) {
		if (!thead[t][0])
			continue;
		printf("\n%s\n%s\n", titles[t], thead[t]);
		for (i = 0; i < nr_rows; i++)
			if (rows[i][0] - '0' == t)
				printf("%s\n", rows[i] + 2);
	}
}

static bool has(const char *list, const char *word)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, word))
			return true;
	return false;
}

static void help(const char *name)
{
	printf("usage: %s [-b size] [-s 2M,1G] [-m first-write,throughput,stall,cap] [-r reps] [-w ms]\n"
	       " -b: slot size (default 1G; a multiple of 1G for the 1G backing)\n"
	       " -s: hugetlb backings to run (default 2M,1G)\n"
	       " -m: modes to run (default all)\n"
	       " -r: repetitions of every measurement (default 3; medians reported)\n"
	       " -w: length of the stall and cap modes' control windows (default 100 ms)\n",
	       name);
	exit(KSFT_FAIL);
}

int main(int argc, char *argv[])
{
	const char *modes = "first-write,throughput,stall,cap";
	const char *backings = "2M,1G";
	uint64_t ctl_ns = 100 * 1000000ULL;
	int opt, reps = 3, b;

	size = SZ_1G;
	while ((opt = getopt(argc, argv, "b:s:m:r:w:h")) != -1) {
		switch (opt) {
		case 'b':
			size = parse_size(optarg);
			break;
		case 's':
			backings = optarg;
			break;
		case 'm':
			modes = optarg;
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'w':
			ctl_ns = atoi(optarg) * 1000000ULL;
			break;
		default:
			help(argv[0]);
		}
	}
	TEST_ASSERT(size && !(size % SZ_2M), "-b: a multiple of 2 MiB");
	TEST_ASSERT(reps > 0 && reps <= MAX_REPS, "-r: 1 to %d", MAX_REPS);
	TEST_ASSERT(ctl_ns, "-w: at least 1 ms");
	npages = size / SZ_4K;

	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded, or no TDP MMU)");
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MEMSLOT_PAGE_SIZES));

	eager_saved = get_kvm_param_bool("eager_page_split");
	atexit(restore_eager);

	/* Keep slot 0 on 4K pages so that only the test slot moves the stats. */
	TEST_ASSERT(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");

	for (b = 0; b < 2; b++) {
		huge = b ? SZ_1G : SZ_2M;
		backing = b ? VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB :
			      VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB;
		if (!has(backings, backing_name()))
			continue;
		if (size % huge) {
			pr_info("%s backing skipped: -b is not a multiple of it\n",
				backing_name());
			continue;
		}

		vm = vm_create_with_one_vcpu(&vcpu, guest_code);
		ks_sync_tsc_khz(vm);
		tsc_khz = guest_tsc_khz;	/* KVM_GET_TSC_KHZ, by the library */
		ws = addr_gva2hva(vm, (vm_vaddr_t)&guest_ws);
		guest_npages = npages;
		sync_global_to_guest(vm, guest_npages);
		virt_map_level(vm, TEST_GPA, TEST_GPA, size, PG_LEVEL_2M);
		run_cmd(0);	/* to the guest's first GUEST_SYNC */
		have_slot = false;
		gen = 0;

		if (has(modes, "first-write"))
			bench_first_write(reps);
		if (has(modes, "throughput"))
			bench_throughput(reps);
		if (has(modes, "stall")) {
			bench_concurrent(2, OP_IOCTL, reps, ctl_ns);
			bench_concurrent(2, OP_EAGER, reps, ctl_ns);
		}
		if (has(modes, "cap") && huge == SZ_2M) {
			bench_concurrent(3, OP_CAP, reps, ctl_ns);
			bench_concurrent(3, OP_EAGER, reps, ctl_ns);
		}
		kvm_vm_free(vm);
	}

	printf("\nsplit_bench: -b %lu MiB, guest TSC %lu kHz\n", size >> 20,
	       tsc_khz);
	print_tables();
	return 0;
}
