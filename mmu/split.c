// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: KVM_SPLIT_HUGE_PAGES, the arch-neutral part.
 *
 * Argument checks, the walk over the range in resumable steps, signals,
 * progress reporting and statistics.  The page-table walk itself is the
 * architecture's kvm_arch_split_huge_pages().
 */
#include <linux/kvm_host.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/sizes.h>

#include <kvm-split/kvm_split.h>

#define CREATE_TRACE_POINTS
#include "trace.h"

bool kvm_split_is_cap(long cap)
{
	return cap == KVM_CAP_SPLIT_HUGE_PAGES ||
	       cap == KVM_CAP_MEMSLOT_PAGE_SIZES ||
	       cap == KVM_CAP_CLEAR_DIRTY_LOG_CHUNK;
}

/* @kvm is NULL when the capability is checked on /dev/kvm. */
int kvm_split_check_extension(struct kvm *kvm, long cap)
{
	switch (cap) {
	case KVM_CAP_SPLIT_HUGE_PAGES:
		return kvm_arch_split_page_sizes(kvm);
	case KVM_CAP_MEMSLOT_PAGE_SIZES:
		return kvm_arch_memslot_page_sizes(kvm);
	case KVM_CAP_CLEAR_DIRTY_LOG_CHUNK:
		return IS_ENABLED(CONFIG_KVM_GENERIC_DIRTYLOG_READ_PROTECT);
	default:
		return 0;
	}
}

/* Hook in kvm_vm_ioctl_enable_cap_generic(). */
int kvm_split_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	switch (cap->cap) {
	case KVM_CAP_MEMSLOT_PAGE_SIZES:
		return kvm_split_enable_memslot_page_sizes(kvm, cap);
	case KVM_CAP_CLEAR_DIRTY_LOG_CHUNK:
		if (!IS_ENABLED(CONFIG_KVM_GENERIC_DIRTYLOG_READ_PROTECT))
			return -EINVAL;
		return kvm_split_enable_clear_chunk(kvm, cap);
	default:
		return -EINVAL;
	}
}

/* See include/kvm-split/kvm_split.h. */
int kvm_split_walk(struct kvm *kvm, const struct kvm_memory_slot *slot,
		   gfn_t start, gfn_t end, u64 page_size,
		   enum kvm_split_origin origin, struct kvm_split_count *count)
{
	struct kvm_split_count c = {};
	int r;

	r = kvm_arch_split_huge_pages(kvm, slot, start, end, page_size, &c);

	/* Callers may run concurrently: add atomically, as page stats do. */
	atomic64_add(c.split_2m, (atomic64_t *)&kvm->stat.generic.split_huge_2m);
	atomic64_add(c.split_1g, (atomic64_t *)&kvm->stat.generic.split_huge_1g);
	trace_kvm_split_huge_pages(slot, start, end - start, page_size, &c, r,
				   origin);

	count->split_2m += c.split_2m;
	count->split_1g += c.split_1g;
	return r;
}

/*
 * Look up the slot of @args and check that [first_page, first_page +
 * num_pages) lies inside it.  Called with kvm->slots_lock held.
 */
static struct kvm_memory_slot *
kvm_split_get_slot(struct kvm *kvm, const struct kvm_split_huge_pages *args)
{
	int as_id = args->slot >> 16, id = (u16)args->slot;
	struct kvm_memory_slot *slot;
	u64 end;

	lockdep_assert_held(&kvm->slots_lock);

	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm) || id >= KVM_USER_MEM_SLOTS)
		return NULL;

	slot = id_to_memslot(__kvm_memslots(kvm, as_id), id);
	if (!slot || !slot->npages)
		return NULL;

	if (check_add_overflow(args->first_page, args->num_pages, &end) ||
	    end > slot->npages)
		return NULL;

	return slot;
}

static int kvm_split_check_args(struct kvm *kvm,
				const struct kvm_split_huge_pages *args)
{
	int i;

	if (args->flags)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(args->reserved); i++)
		if (args->reserved[i])
			return -EINVAL;
	if (args->page_size != SZ_4K && args->page_size != SZ_2M)
		return -EINVAL;
	if (!(kvm_arch_split_page_sizes(kvm) & args->page_size))
		return -EINVAL;
	return 0;
}

/*
 * KVM_SPLIT_HUGE_PAGES.  Progress follows KVM_PRE_FAULT_MEMORY: first_page
 * and num_pages are advanced past what is done and copied back whatever the
 * result, so a caller that gets -EINTR or -ENOMEM repeats the call.
 *
 * Locking: takes kvm->slots_lock for one step at a time (memslot updates
 * wait at most one step); the arch walk takes mmu_lock.
 */
static int kvm_vm_ioctl_split_huge_pages(struct kvm *kvm,
					 struct kvm_split_huge_pages __user *argp)
{
	struct kvm_split_huge_pages args;
	struct kvm_memory_slot *slot;
	int r;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;

	r = kvm_split_check_args(kvm, &args);
	if (r)
		return r;

	mutex_lock(&kvm->slots_lock);
	slot = kvm_split_get_slot(kvm, &args);
	mutex_unlock(&kvm->slots_lock);
	if (!slot)
		return -EINVAL;

	while (args.num_pages) {
		struct kvm_split_count count = {};
		u64 done;
		gfn_t start;

		mutex_lock(&kvm->slots_lock);
		/* The slot may have been moved or deleted between steps. */
		slot = kvm_split_get_slot(kvm, &args);
		if (!slot) {
			mutex_unlock(&kvm->slots_lock);
			r = -EINVAL;
			break;
		}
		start = slot->base_gfn + args.first_page;
		done = min(args.num_pages,
			   round_down(start + KVM_SPLIT_STEP_PAGES,
				      KVM_SPLIT_STEP_PAGES) - start);
		r = kvm_split_walk(kvm, slot, start, start + done,
				   args.page_size, KVM_SPLIT_BY_IOCTL, &count);
		mutex_unlock(&kvm->slots_lock);

		args.split += count.split_2m + count.split_1g;
		if (r) {
			atomic64_inc((atomic64_t *)&kvm->stat.generic.split_huge_failed);
			break;
		}
		args.first_page += done;
		args.num_pages -= done;

		if (args.num_pages && signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}

	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return r;
}

/* Returns -ENOTTY for ioctls that are not kvm-split's. */
long kvm_split_vm_ioctl(struct kvm *kvm, unsigned int ioctl, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (ioctl) {
	case KVM_SPLIT_HUGE_PAGES:
		return kvm_vm_ioctl_split_huge_pages(kvm, argp);
	default:
		return -ENOTTY;
	}
}
