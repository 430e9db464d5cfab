// SPDX-License-Identifier: GPL-2.0
/*
 * split_huge_pages_test: KVM_SPLIT_HUGE_PAGES of kvm-split.
 *
 * A 1 GiB slot backed by a 1 GiB hugetlb page, identity mapped in a guest
 * that writes one word in every 4 KiB page and checks it on the next pass.
 * KVM maps the slot with one 1G NPT/EPT entry.  From the VM's page stats
 * and the ioctl's own output, the test proves that:
 *  - KVM_CAP_SPLIT_HUGE_PAGES reports 4K | 2M on /dev/kvm and on the VM;
 *  - a 2M target splits the 1G mapping straddling the range, and only it;
 *  - a 4K target over a range that is not 2M aligned at either end splits
 *    exactly the 2M mappings it touches, leaves its neighbours huge, and
 *    splits nothing when repeated;
 *  - a 4K target splits 1G -> 2M -> 4K in one call;
 *  - the guest's data survives every split;
 *  - signals follow KVM_PRE_FAULT_MEMORY: a call that made progress
 *    returns 0 with first_page and num_pages advanced in whole 64 MiB
 *    steps, one that made none returns EINTR and changes nothing (both
 *    forced with the delay module), and looping while num_pages is not 0
 *    finishes the job with the same total as one uninterrupted call;
 *  - bad arguments fail with EINVAL and change neither the arguments nor
 *    any mapping, and random arguments give exactly the expected result.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/time.h>
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

#define SZ_4K		(1ULL << 12)
#define SZ_2M		(1ULL << 21)
#define SZ_1G		(1ULL << 30)
#define PAGES_PER_2M	(SZ_2M / SZ_4K)
#define PAGES_PER_1G	(SZ_1G / SZ_4K)
/* The ioctl reports progress in steps of 64 MiB of guest physical memory. */
#define STEP_PAGES	((64ULL << 20) / SZ_4K)

/* Generation the guest writes on its next pass; 0 is fresh memory. */
static uint64_t guest_gen;

/*
 * Each pass checks that every page still holds the previous generation's
 * value and writes the next one, so a lost or misplaced write is caught.
 */
static void guest_code(void)
{
	for (;;) {
		uint64_t gen = READ_ONCE(guest_gen), i;

		for (i = 0; i < TEST_PAGES; i++) {
			uint64_t *p = (uint64_t *)(TEST_GPA + i * PAGE_SIZE);

			GUEST_ASSERT_EQ(*p, ks_pattern(gen - 1, i));
			*p = ks_pattern(gen, i);
		}
		GUEST_SYNC(gen);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;

/* One guest pass writing generation @gen; the host then checks it too. */
static void run_guest(uint64_t gen)
{
	struct ucall uc;

	guest_gen = gen;
	sync_global_to_guest(vm, guest_gen);
	TEST_ASSERT_EQ(ks_vcpu_run(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], gen);
	ks_check_pattern(vm, TEST_GPA, TEST_PAGES, gen);
}

struct stats {
	uint64_t pages_4k, pages_2m, pages_1g;
	uint64_t split_2m, split_1g, split_failed;
};

static struct stats get_stats(void)
{
	struct stats s = {
		.pages_4k = vm_get_stat(vm, "pages_4k"),
		.pages_2m = vm_get_stat(vm, "pages_2m"),
		.pages_1g = vm_get_stat(vm, "pages_1g"),
		.split_2m = vm_get_stat(vm, "split_huge_2m"),
		.split_1g = vm_get_stat(vm, "split_huge_1g"),
		.split_failed = vm_get_stat(vm, "split_huge_failed"),
	};

	return s;
}

/* Assert the stats moved by exactly @d since @old (unsigned wrap is fine). */
static void assert_stats_delta(const struct stats *old, struct stats d)
{
	struct stats s = get_stats();

	TEST_ASSERT_EQ(s.pages_4k - old->pages_4k, d.pages_4k);
	TEST_ASSERT_EQ(s.pages_2m - old->pages_2m, d.pages_2m);
	TEST_ASSERT_EQ(s.pages_1g - old->pages_1g, d.pages_1g);
	TEST_ASSERT_EQ(s.split_2m - old->split_2m, d.split_2m);
	TEST_ASSERT_EQ(s.split_1g - old->split_1g, d.split_1g);
	TEST_ASSERT_EQ(s.split_failed - old->split_failed, d.split_failed);
}

/*
 * (Re)create the test slot on a fresh 1 GiB page and let the guest fill
 * it: KVM maps it with a single 1G entry.
 */
static void fresh_slot(void)
{
	static bool created;
	struct stats before;

	if (created)
		vm_mem_region_delete(vm, TEST_SLOT);
	created = true;
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB,
				    TEST_GPA, TEST_SLOT, TEST_PAGES, 0);

	before = get_stats();
	run_guest(1);
	TEST_ASSERT_EQ(get_stats().pages_1g - before.pages_1g, 1);
}

static void test_split_to_2m(void)
{
	struct stats before = get_stats();

	/* The middle half: the 1G mapping straddles both ends. */
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, TEST_PAGES / 4, TEST_PAGES / 2,
				SZ_2M), 1);
	assert_stats_delta(&before, (struct stats){
		.pages_1g = -1, .pages_2m = PAGES_PER_1G / PAGES_PER_2M,
		.split_1g = 1 });
	pr_info("2M target: the straddling 1G mapping split into 512 x 2M\n");
}

static void test_split_to_4k_unaligned(void)
{
	const uint64_t n = 4, huge = 100;	/* 2M pages huge..huge+n-1 */
	const uint64_t first = huge * PAGES_PER_2M + 7;
	const uint64_t num = (n - 1) * PAGES_PER_2M + 100 - 7;
	struct stats before = get_stats();

	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, first, num, SZ_4K), n);
	assert_stats_delta(&before, (struct stats){
		.pages_2m = -n, .pages_4k = n * PAGES_PER_2M, .split_2m = n });

	/* Idempotent: nothing left to split in that range. */
	before = get_stats();
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, first, num, SZ_4K), 0);
	assert_stats_delta(&before, (struct stats){});

	/* The 2M neighbours on either side were left huge. */
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, huge * PAGES_PER_2M - 1, 1,
				SZ_4K), 1);
	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, (huge + n) * PAGES_PER_2M, 1,
				SZ_4K), 1);
	pr_info("4K target, unaligned range: exactly the %lu straddled 2M mappings split\n",
		n);
}

static void test_split_1g_to_4k(void)
{
	struct stats before = get_stats();

	TEST_ASSERT_EQ(ks_split(vm, TEST_SLOT, 0, TEST_PAGES, SZ_4K), 1 + 512);
	assert_stats_delta(&before, (struct stats){
		.pages_1g = -1, .pages_4k = TEST_PAGES,
		.split_1g = 1, .split_2m = 512 });
	pr_info("4K target: 1G -> 2M -> 4K in one call\n");
}

static void sigalrm_handler(int sig)
{
}

/* SIGALRM every @usecs (0: stop); no SA_RESTART, so ioctls see it. */
static void set_timer(long usecs, bool repeat)
{
	struct sigaction sa = { .sa_handler = sigalrm_handler };
	struct itimerval it = {
		.it_interval = { .tv_usec = repeat ? usecs : 0 },
		.it_value = { .tv_usec = usecs },
	};

	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction failed");
	TEST_ASSERT(!setitimer(ITIMER_REAL, &it, NULL), "setitimer failed");
}

/*
 * Signals keep coming while the VMM loops as on KVM_PRE_FAULT_MEMORY:
 * a call returns 0 once it made progress (whole 64 MiB steps), or EINTR
 * with the arguments untouched if the signal came before its first step.
 * Looping while num_pages is not 0 finishes the job with the same total as
 * one uninterrupted call.
 */
static void test_resume_after_signal(void)
{
	struct kvm_split_huge_pages args = {
		.slot = TEST_SLOT,
		.num_pages = TEST_PAGES,
		.page_size = SZ_4K,
	};
	uint64_t nr_early = 0, nr_eintr = 0;
	struct stats before = get_stats();
	int r;

	set_timer(1000, true);
	while (args.num_pages) {
		struct kvm_split_huge_pages in = args;

		r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
		if (r) {
			TEST_ASSERT(r == -1 && errno == EINTR,
				    "KVM_SPLIT_HUGE_PAGES: r = %d, errno = %d",
				    r, errno);
			TEST_ASSERT(!memcmp(&args, &in, sizeof(in)),
				    "EINTR with progress: first_page %llu -> %llu",
				    in.first_page, args.first_page);
			nr_eintr++;
			continue;
		}
		TEST_ASSERT_EQ(args.first_page + args.num_pages, TEST_PAGES);
		TEST_ASSERT(args.first_page > in.first_page,
			    "0 without progress: first_page %llu",
			    args.first_page);
		TEST_ASSERT(!(args.first_page % STEP_PAGES) || !args.num_pages,
			    "first_page %llu is not a 64 MiB step", args.first_page);
		if (args.num_pages)
			nr_early++;
	}
	set_timer(0, false);

	TEST_ASSERT_EQ(args.first_page, TEST_PAGES);
	TEST_ASSERT_EQ(args.split, 1 + 512);
	assert_stats_delta(&before, (struct stats){
		.pages_1g = -1, .pages_4k = TEST_PAGES,
		.split_1g = 1, .split_2m = 512 });
	pr_info("signals: %lu calls returned 0 early with progress, %lu EINTR with none; resumed to the end\n",
		nr_early, nr_eintr);
}

#define STEP_SYM	"kvm_split_huge_pages_step"
#define IOCTL_SYM	"kvm_split_vm_ioctl"

static pthread_t ioctl_thread;

/*
 * Send SIGALRM to the thread in the ioctl once it sits in the delay at
 * @arg: the delay module counts a delay before it starts waiting.  A timer
 * armed before the call cannot promise that: in the emulated guest of a
 * loaded machine a 20 ms timer has fired after the whole 1.6 s call.
 */
static void *signal_in_delay(void *arg)
{
	while (!ks_delay_count(arg))
		usleep(1000);
	pthread_kill(ioctl_thread, SIGALRM);
	return NULL;
}

/* Run KVM_SPLIT_HUGE_PAGES with a signal sent during the delay at @sym. */
static int split_signalled(const char *sym, struct kvm_split_huge_pages *args)
{
	struct sigaction sa = { .sa_handler = sigalrm_handler };
	pthread_t t;
	int r, e;

	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction failed");
	ioctl_thread = pthread_self();
	pthread_create(&t, NULL, signal_in_delay, (void *)sym);
	r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, args);
	e = errno;
	pthread_join(t, NULL);
	errno = e;
	return r;
}

/*
 * The two outcomes of a signal, forced with the delay module (1 s) and a
 * thread that signals the caller while it sits in the delay:
 *  - pending before the first step (delay at the ioctl's entry): EINTR,
 *    the arguments and every mapping untouched;
 *  - arriving during the first step (delay at its entry): the call stops
 *    before the second step and returns 0 with exactly one step done, as
 *    KVM_PRE_FAULT_MEMORY does; repeating it finishes the job.
 */
static void test_signal_forced(void)
{
	struct kvm_split_huge_pages args = {
		.slot = TEST_SLOT,
		.num_pages = TEST_PAGES,
		.page_size = SZ_4K,
		.split = 42,
	}, in = args;
	struct stats before = get_stats();
	int r;

	ks_delay_load(IOCTL_SYM ":1000000");
	r = split_signalled(IOCTL_SYM, &args);
	TEST_ASSERT(ks_delay_count(IOCTL_SYM) == 1,
		    "the delay at %s did not run once", IOCTL_SYM);
	ks_delay_unload();
	TEST_ASSERT(r == -1 && errno == EINTR,
		    "signal before the first step: r = %d, errno = %d, expected EINTR",
		    r, errno);
	TEST_ASSERT(!memcmp(&args, &in, sizeof(in)),
		    "EINTR changed the arguments");
	assert_stats_delta(&before, (struct stats){});
	pr_info("signal before the first step: EINTR, nothing done\n");

	ks_delay_load(STEP_SYM ":1000000");
	r = split_signalled(STEP_SYM, &args);
	TEST_ASSERT(ks_delay_count(STEP_SYM) == 1,
		    "%lu steps ran, expected 1", ks_delay_count(STEP_SYM));
	ks_delay_unload();
	TEST_ASSERT(!r, "signal during the first step: r = %d, errno = %d, expected 0",
		    r, errno);
	TEST_ASSERT_EQ(args.first_page, STEP_PAGES);
	TEST_ASSERT_EQ(args.num_pages, TEST_PAGES - STEP_PAGES);
	/* The 1G mapping, then the 32 2M mappings of the first 64 MiB. */
	TEST_ASSERT_EQ(args.split, 42 + 1 + STEP_PAGES / PAGES_PER_2M);
	assert_stats_delta(&before, (struct stats){
		.pages_1g = -1,
		.pages_2m = PAGES_PER_1G / PAGES_PER_2M - STEP_PAGES / PAGES_PER_2M,
		.pages_4k = STEP_PAGES,
		.split_1g = 1, .split_2m = STEP_PAGES / PAGES_PER_2M });

	vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
	TEST_ASSERT_EQ(args.first_page, TEST_PAGES);
	TEST_ASSERT_EQ(args.num_pages, 0);
	TEST_ASSERT_EQ(args.split, 42 + 1 + 512);
	assert_stats_delta(&before, (struct stats){
		.pages_1g = -1, .pages_4k = TEST_PAGES,
		.split_1g = 1, .split_2m = 512 });
	pr_info("signal during the first step: 0 after exactly one step, resumed to the end\n");
}

static void assert_einval(struct kvm_split_huge_pages args, const char *what)
{
	struct kvm_split_huge_pages in = args;
	struct stats before = get_stats();
	int r;

	r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "%s: expected EINVAL, got r = %d, errno = %d", what, r, errno);
	TEST_ASSERT(!memcmp(&args, &in, sizeof(in)),
		    "%s: the arguments were changed", what);
	assert_stats_delta(&before, (struct stats){});
}

/* @good with one field changed must fail with EINVAL. */
#define TEST_BAD(field, value)					\
do {								\
	struct kvm_split_huge_pages a = good;			\
								\
	a.field = value;					\
	assert_einval(a, #field " = " #value);			\
} while (0)

static void test_bad_args(void)
{
	const struct kvm_split_huge_pages good = {
		.slot = TEST_SLOT,
		.first_page = 0,
		.num_pages = TEST_PAGES,
		.page_size = SZ_4K,
		.split = 42,
	};

	/* as_id 1 may be the SMM address space on x86: use 2 and up. */
	TEST_BAD(slot, 2 << 16 | TEST_SLOT);
	TEST_BAD(slot, 0xffffu << 16 | TEST_SLOT);
	TEST_BAD(slot, TEST_SLOT + 1);
	TEST_BAD(slot, 0xffff);

	/* Past the end of the slot, and overflows wrapping back inside it. */
	TEST_BAD(first_page, 1);
	TEST_BAD(num_pages, TEST_PAGES + 1);
	TEST_BAD(first_page, TEST_PAGES);
	TEST_BAD(first_page, ~0ULL);
	TEST_BAD(num_pages, ~0ULL);

	TEST_BAD(page_size, 0);
	TEST_BAD(page_size, 8192);
	TEST_BAD(page_size, SZ_1G);
	TEST_BAD(flags, 1);
	TEST_BAD(flags, 1u << 31);
	TEST_BAD(reserved[0], 1);
	TEST_BAD(reserved[1], 1);
	TEST_BAD(reserved[2], 1);
	pr_info("bad arguments: EINVAL, arguments and mappings unchanged\n");
}

static uint64_t rand_u64(void)
{
	return (uint64_t)random() << 42 ^ (uint64_t)random() << 21 ^ random();
}

static uint64_t rand_pick(const uint64_t *v, int n)
{
	return v[random() % n];
}

/*
 * Random arguments against the live VM, with the expected result worked
 * out independently: success iff the slot exists, the range is inside it
 * and everything else is well formed; anything else is EINVAL and leaves
 * the arguments alone.
 */
static void test_fuzz(int iterations)
{
	const uint64_t slots[] = { TEST_SLOT, TEST_SLOT, TEST_SLOT, 0 };
	const uint64_t sizes[] = { SZ_4K, SZ_4K, SZ_2M, SZ_2M, 0, SZ_1G };
	const uint64_t slot0_pages = memslot2region(vm, 0)->region.memory_size /
				     PAGE_SIZE;
	struct stats before = get_stats(), after;
	uint64_t nr_ok = 0, nr_split = 0;
	int i, j;

	for (i = 0; i < iterations; i++) {
		struct kvm_split_huge_pages a = {}, in;
		uint64_t npages, end;
		bool valid;
		int r;

		a.slot = rand_pick(slots, ARRAY_SIZE(slots));
		if (!(random() % 8))
			a.slot = random() % 4 << 16 | random() % 8;
		else if (!(random() % 16))
			a.slot = random();

		/* The VM has slots 0 and TEST_SLOT, both in address space 0. */
		npages = (uint16_t)a.slot ? TEST_PAGES : slot0_pages;
		a.first_page = random() % (npages + 1);
		a.num_pages = random() % (npages - a.first_page + 2);
		if (!(random() % 16))
			a.first_page = rand_u64();
		if (!(random() % 16))
			a.num_pages = rand_u64();

		a.page_size = rand_pick(sizes, ARRAY_SIZE(sizes));
		if (!(random() % 16))
			a.page_size = rand_u64() >> (random() % 64);
		if (!(random() % 32))
			a.flags = random();
		for (j = 0; j < ARRAY_SIZE(a.reserved); j++)
			if (!(random() % 64))
				a.reserved[j] = rand_u64();
		a.split = random() % 1000;

		valid = !a.flags && !a.reserved[0] && !a.reserved[1] &&
			!a.reserved[2] &&
			(a.page_size == SZ_4K || a.page_size == SZ_2M) &&
			(a.slot == 0 || a.slot == TEST_SLOT) &&
			!__builtin_add_overflow(a.first_page, a.num_pages, &end) &&
			end <= npages;

		in = a;
		r = __vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &a);
		if (valid) {
			TEST_ASSERT(!r, "valid args (slot %#x first %llu num %llu size %#llx): r = %d, errno = %d",
				    in.slot, in.first_page, in.num_pages,
				    in.page_size, r, errno);
			TEST_ASSERT_EQ(a.first_page, in.first_page + in.num_pages);
			TEST_ASSERT_EQ(a.num_pages, 0);
			TEST_ASSERT(a.split >= in.split, "split went down");
			nr_split += a.split - in.split;
			nr_ok++;
		} else {
			TEST_ASSERT(r == -1 && errno == EINVAL,
				    "bad args (slot %#x flags %#x first %#llx num %#llx size %#llx): r = %d, errno = %d",
				    in.slot, in.flags, in.first_page, in.num_pages,
				    in.page_size, r, errno);
			TEST_ASSERT(!memcmp(&a, &in, sizeof(in)),
				    "rejected call changed the arguments");
		}
	}

	/* What the calls reported is what the stats counted. */
	after = get_stats();
	TEST_ASSERT_EQ(after.split_2m - before.split_2m +
		       after.split_1g - before.split_1g, nr_split);
	TEST_ASSERT_EQ(after.split_failed, before.split_failed);
	pr_info("fuzz: %d calls, %lu valid, %lu mappings split\n", iterations,
		nr_ok, nr_split);
}

int main(int argc, char *argv[])
{
	uint64_t sizes = SZ_4K | SZ_2M;
	unsigned int seed = time(NULL);
	int opt;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		default:
			printf("usage: %s [-s seed]\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}

	__TEST_REQUIRE(kvm_has_cap(KVM_CAP_SPLIT_HUGE_PAGES),
		       "KVM_SPLIT_HUGE_PAGES not supported (kvm-split not loaded, or no TDP MMU)");
	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_SPLIT_HUGE_PAGES), sizes);

	/*
	 * Keep the rest of the VM on 4K pages: khugepaged collapsing slot 0
	 * would move pages_4k and pages_2m behind the test's back.
	 */
	TEST_ASSERT(!prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "PR_SET_THP_DISABLE");

	vm = __vm_create_with_one_vcpu(&vcpu, TEST_PAGES, guest_code);
	TEST_ASSERT_EQ(vm_check_cap(vm, KVM_CAP_SPLIT_HUGE_PAGES), sizes);
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);

	fresh_slot();
	test_split_to_2m();
	test_split_to_4k_unaligned();
	run_guest(2);
	test_bad_args();
	run_guest(3);

	fresh_slot();
	test_split_1g_to_4k();
	run_guest(2);

	fresh_slot();
	test_resume_after_signal();
	run_guest(2);

	fresh_slot();
	test_signal_forced();
	run_guest(2);

	pr_info("fuzz seed: %u (-s to repeat)\n", seed);
	srandom(seed);
	fresh_slot();
	test_fuzz(4000);
	run_guest(2);

	kvm_vm_free(vm);
	return 0;
}
