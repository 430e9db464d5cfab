// SPDX-License-Identifier: GPL-2.0
/*
 * split_trace_test: the kvm_split:kvm_split_huge_pages tracepoint.
 *
 * The event fires once per walk of kvm-split's split walker.  Over a 1 GiB
 * slot that KVM maps with one 1G entry, the test enables the event in
 * tracefs, splits, reads the trace buffer back and checks that:
 *  - the event exists with the documented fields;
 *  - KVM_SPLIT_HUGE_PAGES fires one event per 64 MiB step, whose gfn and
 *    npages tile the requested range exactly (also for a range that starts
 *    and ends inside steps), with the target level, ret 0, origin "ioctl",
 *    and split_1g/split_2m adding up to the ioctl's "split" output and to
 *    the split_huge_1g/split_huge_2m statistics;
 *  - lowering a live slot's cap (KVM_MEM_MAX_PAGE_2M, then _4K) fires one
 *    event per update covering the whole slot, origin "memslot_cap";
 *  - chunked KVM_CLEAR_DIRTY_LOG with manual-protect and initially-set
 *    fires one event per chunk, origin "clear_dirty_log";
 *  - a disabled event records nothing.
 */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <linux/kvm_split.h>

#include "kvm_split_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)
#define TEST_SIZE	(1ULL << 30)
#define TEST_PAGES	(TEST_SIZE / PAGE_SIZE)
#define TEST_GFN	(TEST_GPA / PAGE_SIZE)

#define SZ_4K		(1ULL << 12)
#define SZ_2M		(1ULL << 21)
#define PAGES_PER_2M	(SZ_2M / SZ_4K)
/* KVM_SPLIT_HUGE_PAGES works in steps of 64 MiB of guest physical memory. */
#define STEP_PAGES	((64ULL << 20) / SZ_4K)
#define NR_STEPS	(TEST_PAGES / STEP_PAGES)
#define CLEAR_CHUNK	(1ULL << 15)	/* 128 MiB */

#define EVENT		"events/kvm_split/kvm_split_huge_pages"

static const char *tracing;
static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;

/* Write one word in every page, so that KVM maps the slot. */
static void guest_code(void)
{
	uint64_t gen = 1, i;

	for (;; gen++) {
		for (i = 0; i < TEST_PAGES; i++)
			*(uint64_t *)(TEST_GPA + i * PAGE_SIZE) = gen << 32 | i;
		GUEST_SYNC(gen);
	}
}

static void run_guest(void)
{
	struct ucall uc;

	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
}

/* tracefs: where it is mounted, or mount it at /sys/kernel/tracing. */
static void find_tracing(void)
{
	static const char * const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	struct stat st;
	int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/events", dirs[i]);
		if (!stat(path, &st)) {
			tracing = dirs[i];
			return;
		}
	}
	TEST_ASSERT(!mount("tracefs", dirs[0], "tracefs", 0, NULL),
		    "no tracefs, and mounting it at %s failed", dirs[0]);
	tracing = dirs[0];
}

static char *tpath(const char *file)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tracing, file);
	return path;
}

static void twrite(const char *file, const char *val, int flags)
{
	int fd = open(tpath(file), O_WRONLY | flags);

	TEST_ASSERT(fd >= 0, "open %s", tpath(file));
	TEST_ASSERT(write(fd, val, strlen(val)) == strlen(val), "write %s to %s",
		    val, tpath(file));
	close(fd);
}

/* Read a tracefs file whole; the caller frees the result. */
static char *tread(const char *file)
{
	size_t size = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = open(tpath(file), O_RDONLY);
	ssize_t n;

	TEST_ASSERT(fd >= 0 && buf, "open %s", tpath(file));
	while ((n = read(fd, buf + size, cap - size - 1)) > 0) {
		size += n;
		if (cap - size < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			TEST_ASSERT(buf, "realloc");
		}
	}
	TEST_ASSERT(n == 0, "read %s", tpath(file));
	close(fd);
	buf[size] = 0;
	return buf;
}

static void clear_trace(void)
{
	twrite("trace", "", O_TRUNC);
}

struct event {
	unsigned int as_id, slot, level;
	uint64_t gfn, npages, split_1g, split_2m;
	int ret;
	char origin[32];
};

#define MAX_EVENTS	256

/* The events recorded since the last clear_trace(), in order. */
static int read_events(struct event *ev)
{
	char *buf = tread("trace"), *line, *save;
	int n = 0;

	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, "kvm_split_huge_pages: ");

		if (line[0] == '#')
			continue;
		TEST_ASSERT(p, "unexpected line in the trace: %s", line);
		TEST_ASSERT(n < MAX_EVENTS, "too many events");
		TEST_ASSERT(sscanf(p + strlen("kvm_split_huge_pages: "),
				   "as_id %u slot %u gfn 0x%lx npages %lu level %u split_1g %lu split_2m %lu ret %d origin %31s",
				   &ev[n].as_id, &ev[n].slot, &ev[n].gfn,
				   &ev[n].npages, &ev[n].level, &ev[n].split_1g,
				   &ev[n].split_2m, &ev[n].ret,
				   ev[n].origin) == 9,
			    "cannot parse: %s", line);
		n++;
	}
	free(buf);
	return n;
}

static void assert_event(const struct event *e, uint64_t gfn, uint64_t npages,
			 unsigned int level, uint64_t split_1g,
			 uint64_t split_2m, const char *origin)
{
	TEST_ASSERT(e->as_id == 0 && e->slot == TEST_SLOT && e->gfn == gfn &&
		    e->npages == npages && e->level == level &&
		    e->split_1g == split_1g && e->split_2m == split_2m &&
		    !e->ret && !strcmp(e->origin, origin),
		    "event: as_id %u slot %u gfn %#lx npages %lu level %u split_1g %lu split_2m %lu ret %d origin %s; "
		    "expected as_id 0 slot %u gfn %#lx npages %lu level %u split_1g %lu split_2m %lu ret 0 origin %s",
		    e->as_id, e->slot, e->gfn, e->npages, e->level, e->split_1g,
		    e->split_2m, e->ret, e->origin, TEST_SLOT, gfn, npages,
		    level, split_1g, split_2m, origin);
}

struct stats {
	uint64_t split_1g, split_2m;
};

static struct stats get_stats(void)
{
	return (struct stats){
		.split_1g = vm_get_stat(vm, "split_huge_1g"),
		.split_2m = vm_get_stat(vm, "split_huge_2m"),
	};
}

/*
 * The events since the last clear_trace() add up to what the stats
 * counted since @old; returns how many mappings they split.
 */
static uint64_t assert_sums(const struct event *ev, int n,
			    const struct stats *old)
{
	struct stats s = get_stats();
	uint64_t s1g = 0, s2m = 0;
	int i;

	for (i = 0; i < n; i++) {
		s1g += ev[i].split_1g;
		s2m += ev[i].split_2m;
	}
	TEST_ASSERT_EQ(s1g, s.split_1g - old->split_1g);
	TEST_ASSERT_EQ(s2m, s.split_2m - old->split_2m);
	return s1g + s2m;
}

/* (Re)create the test slot on a fresh 1 GiB page, mapped with one 1G entry. */
static void fresh_slot(void)
{
	static bool created;

	if (created)
		vm_mem_region_delete(vm, TEST_SLOT);
	created = true;
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB,
				    TEST_GPA, TEST_SLOT, TEST_PAGES, 0);
	run_guest();
}

static void test_format(void)
{
	static const char * const fields[] = {
		"field:u16 as_id;", "field:u16 slot_id;",
		"field:u8 target_level;", "field:u8 origin;", "field:int ret;",
		"field:u64 gfn;", "field:u64 npages;", "field:u64 split_1g;",
		"field:u64 split_2m;",
	};
	char *fmt = tread(EVENT "/format");
	int i;

	for (i = 0; i < ARRAY_SIZE(fields); i++)
		TEST_ASSERT(strstr(fmt, fields[i]), "no \"%s\" in %s/format:\n%s",
			    fields[i], EVENT, fmt);
	free(fmt);
	pr_info("format: %s has the documented fields\n", EVENT);
}

/* A whole-slot split to 4K: 16 steps, the 1G mapping split in the first. */
static void test_ioctl_whole_slot(struct event *ev)
{
	struct stats before;
	uint64_t total;
	int n, i;

	fresh_slot();
	before = get_stats();
	clear_trace();
	total = ks_split(vm, TEST_SLOT, 0, TEST_PAGES, SZ_4K);
	n = read_events(ev);

	TEST_ASSERT_EQ(n, NR_STEPS);
	for (i = 0; i < n; i++)
		assert_event(&ev[i], TEST_GFN + i * STEP_PAGES, STEP_PAGES, 1,
			     !i, STEP_PAGES / PAGES_PER_2M, "ioctl");
	TEST_ASSERT_EQ(total, 1 + 512);
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), total);
	pr_info("ioctl: %d events, one per 64 MiB step, adding up to split = %lu\n",
		n, total);
}

/* Ranges that start and end inside steps, to 2M and then to 4K. */
static void test_ioctl_unaligned(struct event *ev)
{
	const uint64_t first = STEP_PAGES / 2, num = 2 * STEP_PAGES;
	struct stats before;
	uint64_t total;
	int n;

	fresh_slot();
	before = get_stats();
	clear_trace();
	total = ks_split(vm, TEST_SLOT, first, num, SZ_2M);
	n = read_events(ev);
	TEST_ASSERT_EQ(n, 3);
	assert_event(&ev[0], TEST_GFN + first, STEP_PAGES / 2, 2, 1, 0, "ioctl");
	assert_event(&ev[1], TEST_GFN + STEP_PAGES, STEP_PAGES, 2, 0, 0, "ioctl");
	assert_event(&ev[2], TEST_GFN + 2 * STEP_PAGES, STEP_PAGES / 2, 2, 0, 0,
		     "ioctl");
	TEST_ASSERT_EQ(total, 1);
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), total);

	/* 5 pages either side of a step boundary: one 2M mapping in each. */
	before = get_stats();
	clear_trace();
	total = ks_split(vm, TEST_SLOT, STEP_PAGES - 5, 10, SZ_4K);
	n = read_events(ev);
	TEST_ASSERT_EQ(n, 2);
	assert_event(&ev[0], TEST_GFN + STEP_PAGES - 5, 5, 1, 0, 1, "ioctl");
	assert_event(&ev[1], TEST_GFN + STEP_PAGES, 5, 1, 0, 1, "ioctl");
	TEST_ASSERT_EQ(total, 2);
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), total);
	pr_info("ioctl: unaligned ranges traced step by step, exactly\n");
}

/* Lowering the cap of the live slot: one event per memslot update. */
static void test_memslot_cap(struct event *ev)
{
	struct stats before;
	int n;

	fresh_slot();
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES,
		      KVM_MEM_MAX_PAGE_2M | KVM_MEM_MAX_PAGE_4K);

	before = get_stats();
	clear_trace();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_2M);
	n = read_events(ev);
	TEST_ASSERT_EQ(n, 1);
	assert_event(&ev[0], TEST_GFN, TEST_PAGES, 2, 1, 0, "memslot_cap");
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), 1);

	before = get_stats();
	clear_trace();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_MAX_PAGE_4K);
	n = read_events(ev);
	TEST_ASSERT_EQ(n, 1);
	assert_event(&ev[0], TEST_GFN, TEST_PAGES, 1, 0, 512, "memslot_cap");
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), 512);

	vm_mem_region_set_flags(vm, TEST_SLOT, 0);
	vm_enable_cap(vm, KVM_CAP_MEMSLOT_PAGE_SIZES, 0);
	pr_info("memslot cap: one event per lowering, whole slot\n");
}

/*
 * Chunked KVM_CLEAR_DIRTY_LOG splits each chunk first (manual-protect
 * with initially-set, eager_page_split on): one event per chunk.
 */
static void test_clear_dirty_log(struct event *ev)
{
	const char *eager = "/sys/module/kvm/parameters/eager_page_split";
	uint64_t nr_chunks = TEST_PAGES / CLEAR_CHUNK;
	unsigned long *bitmap = calloc(TEST_PAGES / 8, 1);
	bool old_eager = get_kvm_param_bool("eager_page_split");
	struct stats before;
	uint64_t i;
	int n;

	ks_write_param(eager, "Y");

	fresh_slot();
	vm_mem_region_set_flags(vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	TEST_ASSERT(bitmap, "calloc");
	memset(bitmap, 0xff, TEST_PAGES / 8);

	before = get_stats();
	clear_trace();
	kvm_vm_clear_dirty_log(vm, TEST_SLOT, bitmap, 0, TEST_PAGES);
	n = read_events(ev);
	TEST_ASSERT_EQ(n, nr_chunks);
	for (i = 0; i < nr_chunks; i++)
		assert_event(&ev[i], TEST_GFN + i * CLEAR_CHUNK, CLEAR_CHUNK, 1,
			     !i, CLEAR_CHUNK / PAGES_PER_2M, "clear_dirty_log");
	TEST_ASSERT_EQ(assert_sums(ev, n, &before), 1 + 512);

	vm_mem_region_set_flags(vm, TEST_SLOT, 0);
	ks_write_param(eager, old_eager ? "Y" : "N");
	free(bitmap);
	pr_info("clear dirty log: one event per %llu-page chunk\n", CLEAR_CHUNK);
}

static void test_disabled(struct event *ev)
{
	fresh_slot();
	twrite(EVENT "/enable", "0", 0);
	clear_trace();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, TEST_PAGES, SZ_4K), 1 + 512);
	TEST_ASSERT_EQ(read_events(ev), 0);
	pr_info("disabled: no events\n");
}

int main(int argc, char *argv[])
{
	struct event *ev = calloc(MAX_EVENTS, sizeof(*ev));

	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded, or no TDP MMU)");
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2));
	TEST_ASSERT(ev, "calloc");
	TEST_ASSERT(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");

	find_tracing();
	pr_info("tracefs at %s\n", tracing);
	test_format();
	twrite("tracing_on", "1", 0);
	twrite(EVENT "/enable", "1", 0);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		      KVM_DIRTY_LOG_INITIALLY_SET);
	vm_enable_cap(vm, KVM_CAP_CLEAR_DIRTY_LOG_CHUNK, CLEAR_CHUNK);
	virt_map_level(vm, TEST_GPA, TEST_GPA, TEST_SIZE, PG_LEVEL_1G);

	test_ioctl_whole_slot(ev);
	test_ioctl_unaligned(ev);
	test_memslot_cap(ev);
	test_clear_dirty_log(ev);
	test_disabled(ev);

	kvm_vm_free(vm);
	free(ev);
	return 0;
}
