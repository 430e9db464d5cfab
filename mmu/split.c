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
 * What a KVM_SPLIT_HUGE_PAGES call works on: the slot it found when it
 * started, by the guest physical range it covers and the memory behind it.
 * A slot that has all of these at a later step is, for the call, the same
 * slot, even if it was deleted and re-created in between: it maps the same
 * guest physical pages to the same memory, so splitting on is what the
 * caller asked for.  Anything else (a move, a resize, another
 * userspace_addr or guest_memfd binding) is another slot: the call stops
 * with -EINVAL rather than split a range the caller did not name.
 *
 * Not part of it: the flags (a flags-only update such as enabling dirty
 * logging or changing KVM_MEM_MAX_PAGE_* maps the same memory at the same
 * place; KVM_MEM_READONLY changes only permissions, which a split keeps)
 * and the arch's per-slot data (x86: rmaps, lpage_info and write tracking,
 * all derived from the range and flags and rebuilt with every new slot).
 * The guest_memfd file is compared by address and never dereferenced.
 */
struct kvm_split_slot_id {
	gfn_t base_gfn;
	unsigned long npages;
	unsigned long userspace_addr;
	bool guest_memfd;
#if KVM_SPLIT_SLOT_GMEM
	const struct file *gmem_file;
	pgoff_t gmem_pgoff;
#endif
};

/* Locking: kvm->slots_lock held, so that @slot cannot change meanwhile. */
static void kvm_split_slot_id_get(struct kvm *kvm,
				  const struct kvm_memory_slot *slot,
				  struct kvm_split_slot_id *id)
{
	lockdep_assert_held(&kvm->slots_lock);

	memset(id, 0, sizeof(*id));
	id->base_gfn = slot->base_gfn;
	id->npages = slot->npages;
	id->userspace_addr = slot->userspace_addr;
	id->guest_memfd = kvm_split_slot_guest_memfd(slot);
#if KVM_SPLIT_SLOT_GMEM
	if (id->guest_memfd) {
		id->gmem_file = slot->gmem.file;
		id->gmem_pgoff = slot->gmem.pgoff;
	}
#endif
}

/* Locking: kvm->slots_lock held, as for kvm_split_slot_id_get(). */
static bool kvm_split_slot_id_same(struct kvm *kvm,
				   const struct kvm_memory_slot *slot,
				   const struct kvm_split_slot_id *id)
{
	struct kvm_split_slot_id now;

	kvm_split_slot_id_get(kvm, slot, &now);
	return !memcmp(&now, id, sizeof(now));
}

/*
 * Look up the slot of @args and check that [first_page, first_page +
 * num_pages) lies inside it.
 *
 * Locking: kvm->slots_lock held, so the slot stays valid until it is
 * released.
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

/* Locking: none; the arguments are the caller's copy. */
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
 * One step of KVM_SPLIT_HUGE_PAGES: split the pages from args->first_page
 * up to the next KVM_SPLIT_STEP_PAGES boundary of guest physical address
 * space (at most args->num_pages), and set *@done to their number.  Adds
 * what it split to @count.  Returns 0, -EINVAL if the slot is no longer
 * the one the call started on (@id; nothing is split then) or -ENOMEM.
 *
 * Out of line and global on purpose: it is a probe point for tests
 * (selftests/split_huge_pages_slot_change_test.c busy-waits at its entry,
 * where no lock is held, to change the slot between two steps).  Keep its
 * name.
 *
 * Locking: called with no lock held; takes kvm->slots_lock for the whole
 * step, so the slot looked up cannot be changed or freed while it is
 * walked, and memslot updates wait for at most one step.  The walk takes
 * mmu_lock itself (kvm_arch_split_huge_pages()).
 */
noinline int kvm_split_huge_pages_step(struct kvm *kvm,
				       const struct kvm_split_huge_pages *args,
				       const struct kvm_split_slot_id *id,
				       u64 *done, struct kvm_split_count *count)
{
	struct kvm_memory_slot *slot;
	gfn_t start;
	int r;

	mutex_lock(&kvm->slots_lock);
	slot = kvm_split_get_slot(kvm, args);
	if (!slot || !kvm_split_slot_id_same(kvm, slot, id)) {
		mutex_unlock(&kvm->slots_lock);
		return -EINVAL;
	}
	start = slot->base_gfn + args->first_page;
	*done = min(args->num_pages,
		    round_down(start + KVM_SPLIT_STEP_PAGES,
			       KVM_SPLIT_STEP_PAGES) - start);
	r = kvm_split_walk(kvm, slot, start, start + *done, args->page_size,
			   KVM_SPLIT_BY_IOCTL, count);
	mutex_unlock(&kvm->slots_lock);
	return r;
}

/*
 * KVM_SPLIT_HUGE_PAGES.  first_page and num_pages are advanced past each
 * step done and copied back whatever the result.  As KVM_PRE_FAULT_MEMORY,
 * the call checks for signals before every step and returns 0 once a step
 * was done, even if a signal (-EINTR) or an allocation failure (-ENOMEM)
 * then stopped it: a caller loops while num_pages is not 0, and a repeat
 * meets the condition again if it persists.  A change of the slot
 * (-EINVAL) is reported even after progress: a repeat would not see it,
 * since it would look the slot up afresh and split whatever now has that
 * id.
 *
 * Locking: takes kvm->slots_lock to look the slot up, then once per step
 * (kvm_split_huge_pages_step()); holds nothing between steps.
 */
int kvm_split_ioctl_split_huge_pages(struct kvm *kvm,
				     struct kvm_split_huge_pages __user *argp)
{
	struct kvm_split_huge_pages args;
	struct kvm_memory_slot *slot;
	struct kvm_split_slot_id id;
	u64 full;
	int r;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;

	r = kvm_split_check_args(kvm, &args);
	if (r)
		return r;

	mutex_lock(&kvm->slots_lock);
	slot = kvm_split_get_slot(kvm, &args);
	if (slot)
		kvm_split_slot_id_get(kvm, slot, &id);
	mutex_unlock(&kvm->slots_lock);
	if (!slot)
		return -EINVAL;

	full = args.num_pages;
	while (args.num_pages) {
		struct kvm_split_count count = {};
		u64 done = 0;

		if (signal_pending(current)) {
			r = -EINTR;
			break;
		}

		r = kvm_split_huge_pages_step(kvm, &args, &id, &done, &count);
		args.split += count.split_2m + count.split_1g;
		if (r) {
			if (r == -ENOMEM)
				atomic64_inc((atomic64_t *)&kvm->stat.generic.split_huge_failed);
			break;
		}
		args.first_page += done;
		args.num_pages -= done;
		cond_resched();
	}

	if (r != -EINVAL && args.num_pages != full)
		r = 0;
	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return r;
}
