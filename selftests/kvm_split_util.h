/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by kvm-split's selftests.
 */
#ifndef SELFTEST_KVM_SPLIT_UTIL_H
#define SELFTEST_KVM_SPLIT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <linux/kvm_split.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

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
