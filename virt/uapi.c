// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-split: the uAPI dispatch, arch-neutral.
 *
 * Upstream's virt/kvm/kvm_main.c hands kvm-split its capabilities
 * (KVM_CHECK_EXTENSION on /dev/kvm and on a VM, KVM_ENABLE_CAP on a VM) and
 * the VM ioctls it does not know (hooks of
 * arch/x86/patches/<series>/0003 and 0007); this file routes each to the
 * feature that implements it:
 *
 *   KVM_CAP_SPLIT_HUGE_PAGES, KVM_SPLIT_HUGE_PAGES
 *	mmu/split.c, arch/<arch>/split.c
 *   KVM_CAP_MEMSLOT_PAGE_SIZES
 *	mmu/page_size.c, arch/<arch>/page_size.c
 *   KVM_CAP_CLEAR_DIRTY_LOG_CHUNK
 *	dirty_log/clear_chunked.c, arch/<arch>/dirty_log.c
 *
 * What the architecture supports it says through kvm_arch_*() (see
 * include/kvm-split/kvm_split.h); the numbers are in
 * include/uapi/linux/kvm_split.h and the same on every kernel series.
 */
#include <linux/kvm_host.h>

#include <kvm-split/kvm_split.h>

/* Locking: none, a pure check. */
bool kvm_split_is_cap(long cap)
{
	return cap == KVM_CAP_SPLIT_HUGE_PAGES ||
	       cap == KVM_CAP_MEMSLOT_PAGE_SIZES ||
	       cap == KVM_CAP_CLEAR_DIRTY_LOG_CHUNK;
}

/*
 * Hook in kvm_vm_ioctl_check_extension_generic().  @kvm is NULL when the
 * capability is checked on /dev/kvm.  Locking: none.
 */
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

/*
 * Hook in kvm_vm_ioctl_enable_cap_generic().  Locking: none here; each
 * feature takes what it needs.
 */
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

/*
 * Hook in kvm_vm_ioctl()'s default case, before the arch's ioctls.  Returns
 * -ENOTTY for ioctls that are not kvm-split's.  Locking: none here; each
 * ioctl takes what it needs.
 */
long kvm_split_vm_ioctl(struct kvm *kvm, unsigned int ioctl, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (ioctl) {
	case KVM_SPLIT_HUGE_PAGES:
		return kvm_split_ioctl_split_huge_pages(kvm, argp);
	default:
		return -ENOTTY;
	}
}
