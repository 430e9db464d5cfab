/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by kvm-split's selftests.
 */
#ifndef SELFTEST_KVM_SPLIT_UTIL_H
#define SELFTEST_KVM_SPLIT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <linux/kvm_split.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

/*
 * Shims for an older selftests framework (6.1), by the KS_HAVE_* probes
 * of scripts/build-selftests.sh: each gives what the newer framework's
 * helper of the same name does, as far as kvm-split's tests use it.
 */
#ifndef KS_HAVE_KVM_PARAM
static inline int ks_read_kvm_param(const char *param, char *buf, size_t n)
{
	char path[128];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", param);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	r = read(fd, buf, n - 1);
	TEST_ASSERT(r > 0, "read %s: %s", path, strerror(errno));
	close(fd);
	buf[r] = '\0';
	return r;
}

static inline bool get_kvm_param_bool(const char *param)
{
	char buf[16];

	ks_read_kvm_param(param, buf, sizeof(buf));
	return buf[0] == 'Y';
}

static inline int get_kvm_param_integer(const char *param)
{
	char buf[32];

	ks_read_kvm_param(param, buf, sizeof(buf));
	return atoi(buf);
}
#endif

#ifndef KS_HAVE_ATOI_POSITIVE
static inline int atoi_positive(const char *name, const char *num_str)
{
	int num = atoi(num_str);

	TEST_ASSERT(num > 0, "%s must be greater than 0, got '%s'", name,
		    num_str);
	return num;
}
#endif

#ifndef KS_HAVE_ENTRY_POINT
static inline void vcpu_arch_set_entry_point(struct kvm_vcpu *vcpu,
					     void *guest_code)
{
	struct kvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
	regs.rip = (unsigned long)guest_code;
	vcpu_regs_set(vcpu, &regs);
}
#endif

/*
 * The guest's TSC frequency, for guests that time themselves.  The newer
 * framework sets guest_tsc_khz for every VM it creates; a test calls
 * ks_sync_tsc_khz() after creating its VM, a no-op there.
 */
#ifdef KS_HAVE_GUEST_TSC_KHZ
static inline void ks_sync_tsc_khz(struct kvm_vm *vm) { }
#else
static uint64_t guest_tsc_khz;

static inline void ks_sync_tsc_khz(struct kvm_vm *vm)
{
	guest_tsc_khz = __vm_ioctl(vm, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT(guest_tsc_khz > 0, "KVM_GET_TSC_KHZ: %s", strerror(errno));
	sync_global_to_guest(vm, guest_tsc_khz);
}
#endif

/*
 * 7.x: vm_get_stat() takes the statistic's name as a token, which it
 * stringifies; kvm-split's tests pass a string (some a variable), as the
 * 6.x framework wants.  Look the name up the same way.
 */
#ifdef KS_HAVE_STAT_BY_TOKEN
static inline u64 ks_vm_get_stat(struct kvm_vm *vm, const char *name)
{
	u64 data;

	kvm_get_stat(&vm->stats, name, &data, 1);
	return data;
}
#undef vm_get_stat
#define vm_get_stat(vm, name)	ks_vm_get_stat(vm, name)
#endif

/* A guest-side pseudo-random generator (Park-Miller, as upstream's). */
#ifndef KS_HAVE_GUEST_RANDOM
struct guest_random_state {
	uint32_t seed;
};

static inline struct guest_random_state new_guest_random_state(uint32_t seed)
{
	return (struct guest_random_state){ .seed = seed };
}

static inline uint32_t guest_random_u32(struct guest_random_state *state)
{
	state->seed = (uint64_t)state->seed * 48271 % ((uint32_t)(1 << 31) - 1);
	return state->seed;
}
#endif

/*
 * KVM_PRE_FAULT_MEMORY (Linux 6.10).  Without it in the uAPI (6.1) define
 * it so that the tests build: KVM answers its capability with 0 there, and
 * a test that needs it says so and skips (ks_require_pre_fault_memory()).
 */
#ifdef KVM_CAP_PRE_FAULT_MEMORY
#define KS_HAVE_PRE_FAULT_MEMORY	1
#else
#define KS_HAVE_PRE_FAULT_MEMORY	0
#define KVM_CAP_PRE_FAULT_MEMORY	236
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY	_IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

/*
 * Whether KVM_PRE_FAULT_MEMORY can be used: where the kernel's uAPI has it,
 * the TDP MMU must support it (a failure if not); where it has none (6.1),
 * the caller skips what needs it, saying so.
 */
static inline bool ks_pre_fault_memory(void)
{
	if (!KS_HAVE_PRE_FAULT_MEMORY) {
		pr_info("no KVM_PRE_FAULT_MEMORY on this kernel (6.1)\n");
		return false;
	}
	TEST_ASSERT(kvm_has_cap(KVM_CAP_PRE_FAULT_MEMORY),
		    "KVM_PRE_FAULT_MEMORY missing on the TDP MMU");
	return true;
}

/* A guest assertion with a message; 6.1's has no format string. */
#ifdef KS_HAVE_GUEST_ASSERT_FMT
#define ks_guest_assert(cond, fmt, args...)	__GUEST_ASSERT(cond, fmt, ##args)
#else
static inline void ks_guest_assert_args(int n, ...) { }
#define ks_guest_assert(cond, fmt, args...)				\
	do {								\
		ks_guest_assert_args(0, fmt, ##args);			\
		GUEST_ASSERT(cond);					\
	} while (0)
#endif

/*
 * Run @vcpu until the guest's next GUEST_SYNC or GUEST_DONE and return
 * which (its arguments are in @uc); a failed guest assert or any other
 * exit fails the test.
 */
static inline uint64_t ks_vcpu_run(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	vcpu_run(vcpu);
	switch (get_ucall(vcpu, uc)) {
	case UCALL_SYNC:
	case UCALL_DONE:
		return uc->cmd;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(*uc);
	default:
		TEST_FAIL("Unexpected exit: %s",
			  exit_reason_str(vcpu->run->exit_reason));
	}
	return 0;
}

/*
 * KVM_SPLIT_HUGE_PAGES of [@first, @first + @num) of @slot to @page_size;
 * returns the huge mappings it split.  As with KVM_PRE_FAULT_MEMORY, a
 * call may return 0 with part of the range left (a signal came after some
 * progress): repeat it until num_pages is 0, as a VMM does.  Any error
 * fails the test.
 */
static inline uint64_t ks_split(struct kvm_vm *vm, uint32_t slot,
				uint64_t first, uint64_t num,
				uint64_t page_size)
{
	struct kvm_split_huge_pages args = {
		.slot = slot,
		.first_page = first,
		.num_pages = num,
		.page_size = page_size,
	};

	do {
		uint64_t left = args.num_pages;

		vm_ioctl(vm, KVM_SPLIT_HUGE_PAGES, &args);
		TEST_ASSERT(!left || args.num_pages < left,
			    "KVM_SPLIT_HUGE_PAGES returned 0 without progress");
		TEST_ASSERT_EQ(args.first_page + args.num_pages, first + num);
	} while (args.num_pages);
	return args.split;
}

/*
 * What generation @gen of a data-integrity test writes into the first word
 * of page @page (guest and host); generation 0 is fresh, zeroed memory.
 */
static inline uint64_t ks_pattern(uint64_t gen, uint64_t page)
{
	return gen ? gen << 32 | page : 0;
}

/* Check from the host that @npages pages at @gpa hold generation @gen. */
static inline void ks_check_pattern(struct kvm_vm *vm, uint64_t gpa,
				    uint64_t npages, uint64_t gen)
{
	uint64_t *hva = addr_gpa2hva(vm, gpa);
	uint64_t i;

	for (i = 0; i < npages; i++)
		TEST_ASSERT(hva[i * PAGE_SIZE / 8] == ks_pattern(gen, i),
			    "page %lu holds %#lx, expected %#lx", i,
			    hva[i * PAGE_SIZE / 8], ks_pattern(gen, i));
}

/* Write @val to the sysfs file @path (a module parameter), or fail. */
static inline void ks_write_param(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	TEST_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	TEST_ASSERT(write(fd, val, strlen(val)) == (ssize_t)strlen(val),
		    "write %s to %s: %s", val, path, strerror(errno));
	close(fd);
}

/*
 * Allocation failures injected into the calling thread only, with
 * /proc/thread-self/fail-nth (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC,
 * CONFIG_FAULT_INJECTION_DEBUG_FS; the debug kernel): writing N makes the
 * N-th slab or page allocation of the thread fail, reading it back says
 * whether it did.  ks_fail_nth_open() lets failslab and fail_page_alloc
 * fail sleeping (GFP_KERNEL) and order-0 allocations, as page tables are;
 * their probability stays 0, so no other task is affected.  On a kernel
 * without fault injection it SKIPs the test, naming what is missing; in
 * the debug tier (KS_TIER=debug) that is a failure.  Returns the fail-nth
 * file descriptor.
 */
static inline int ks_fail_nth_open(void)
{
	static const char * const need[] = {
		"/proc/thread-self/fail-nth",
		"/sys/kernel/debug/failslab/ignore-gfp-wait",
		"/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait",
		"/sys/kernel/debug/fail_page_alloc/min-order",
	};
	const char *tier = getenv("KS_TIER");
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(need); i++) {
		if (!access(need[i], W_OK))
			continue;
		if (tier && !strcmp(tier, "debug"))
			TEST_FAIL("%s: %s: the debug kernel must have fault injection",
				  need[i], strerror(errno));
		print_skip("no fault injection in this kernel (%s: %s; needs CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)",
			   need[i], strerror(errno));
		exit(KSFT_SKIP);
	}
	ks_write_param("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	ks_write_param("/sys/kernel/debug/failslab/verbose", "1");
	ks_write_param("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	ks_write_param("/sys/kernel/debug/fail_page_alloc/min-order", "0");
	ks_write_param("/sys/kernel/debug/fail_page_alloc/verbose", "1");
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	TEST_ASSERT(fd >= 0, "open fail-nth: %s", strerror(errno));
	return fd;
}

/* Put failslab and fail_page_alloc back as ks_fail_nth_open() found them. */
static inline void ks_fail_nth_close(int fd)
{
	ks_write_param("/sys/kernel/debug/failslab/ignore-gfp-wait", "Y");
	ks_write_param("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "Y");
	ks_write_param("/sys/kernel/debug/fail_page_alloc/min-order", "1");
	close(fd);
}

/* Make the @n-th allocation of this thread from now on fail. */
static inline void ks_fail_nth_arm(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	TEST_ASSERT(pwrite(fd, buf, len, 0) == len, "write fail-nth: %s",
		    strerror(errno));
}

/* Disarm; returns true if the failure was injected. */
static inline bool ks_fail_nth_disarm(int fd)
{
	char buf[16] = "";
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);

	TEST_ASSERT(len > 0, "read fail-nth: %s", strerror(errno));
	TEST_ASSERT(pwrite(fd, "0", 1, 0) == 1, "write fail-nth: %s",
		    strerror(errno));
	return atoi(buf) == 0;
}

/*
 * The test-only delay module (selftests/kmod/kvm_split_delay.c), which
 * widens race windows with kprobes.  It sits next to the test binary.  A
 * test that needs it fails, never skips, when it cannot be loaded.
 */
#define KS_DELAY_MOD	"kvm_split_delay"

static inline void ks_delay_unload(void)
{
	if (syscall(SYS_delete_module, KS_DELAY_MOD, O_NONBLOCK))
		TEST_ASSERT(errno == ENOENT, "rmmod %s: %s", KS_DELAY_MOD,
			    strerror(errno));
}

/* Load the delay module with @probes (its "probes" parameter). */
static inline void ks_delay_load(const char *probes)
{
	char exe[4096], path[4200], params[300];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd;

	TEST_ASSERT(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/%s.ko", exe, KS_DELAY_MOD);
	snprintf(params, sizeof(params), "probes=%s", probes);

	ks_delay_unload();	/* left behind by a test that died */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	TEST_ASSERT(!syscall(SYS_finit_module, fd, params, 0),
		    "insmod %s %s: %s", path, params, strerror(errno));
	close(fd);
	pr_info("delay module loaded: %s\n", probes);
}

/*
 * The allocator the split walker calls with no lock held, a delay point:
 * __tdp_mmu_alloc_sp_for_split() on 6.1 (see include/kvm-split/compat.h),
 * tdp_mmu_alloc_sp_for_split() on 6.12.  Asked of the running kernel.
 */
static inline const char *ks_split_alloc_sym(void)
{
	char line[256];
	FILE *f = fopen("/proc/kallsyms", "r");
	bool old = false;

	TEST_ASSERT(f, "open /proc/kallsyms: %s", strerror(errno));
	while (!old && fgets(line, sizeof(line), f))
		old = strstr(line, " __tdp_mmu_alloc_sp_for_split\t") ||
		      strstr(line, " __tdp_mmu_alloc_sp_for_split\n");
	fclose(f);
	return old ? "__tdp_mmu_alloc_sp_for_split" : "tdp_mmu_alloc_sp_for_split";
}

/* How many times the delay at @sym really delayed since the load. */
static inline uint64_t ks_delay_count(const char *sym)
{
	char buf[1024], name[128];
	unsigned long hits, delayed;
	FILE *f = fopen("/sys/module/" KS_DELAY_MOD "/parameters/hits", "r");

	TEST_ASSERT(f, "open %s hits: %s", KS_DELAY_MOD, strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		if (sscanf(buf, "%127s %lu %lu", name, &hits, &delayed) == 3 &&
		    !strcmp(name, sym)) {
			fclose(f);
			return delayed;
		}
	}
	fclose(f);
	TEST_FAIL("no delay probe on %s", sym);
	return 0;
}

#endif /* SELFTEST_KVM_SPLIT_UTIL_H */
