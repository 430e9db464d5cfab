/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm-split: the one place where the kernel series differ (6.1, 6.12, 7.x).
 *
 * kvm-split's own files are written against the newest kernel's KVM.  What
 * an older series lacks or spells differently is supplied here, keyed on
 * KVM_SPLIT_HAVE_* from compat-generated.h, which scripts/compat-probe.sh
 * writes at assemble time by reading the target kernel's own (patched) KVM
 * sources: a feature Debian or a stable release backported is found where
 * it is, whatever LINUX_VERSION_CODE says.
 *
 * Two kinds of entries:
 *  - an upstream helper an older series does not have, defined under its
 *    upstream name with upstream's meaning (WireGuard's compat style);
 *  - a kvm_split_*() wrapper where upstream changed a signature or a field
 *    name, as a macro, so that the patched upstream files that include
 *    this header through <kvm-split/x86_mmu.h> are not affected.
 * Everything here is a macro or a prototype: no code of its own, no
 * locking of its own (each entry keeps the wrapped function's).
 */
#ifndef __KVM_SPLIT_COMPAT_H
#define __KVM_SPLIT_COMPAT_H

#include <kvm-split/compat-generated.h>

/* --- Arch-neutral (virt/kvm) --- */

/* 6.1: one memslot address space count for every VM type. */
#ifndef KVM_SPLIT_HAVE_NR_MEMSLOT_AS_IDS
#define kvm_arch_nr_memslot_as_ids(kvm)	((void)(kvm), KVM_ADDRESS_SPACE_NUM)
#endif

/* 6.1: the memslot TLB flush is the arch's. */
#ifndef KVM_SPLIT_HAVE_FLUSH_REMOTE_TLBS_MEMSLOT
#define kvm_flush_remote_tlbs_memslot(kvm, slot) \
	kvm_arch_flush_remote_tlbs_memslot(kvm, slot)
#endif

/* 6.1: no guest_memfd, so no slot is bound to one or can be private. */
#ifdef KVM_SPLIT_HAVE_GUEST_MEMFD
#define kvm_split_slot_guest_memfd(slot) \
	(!!((slot)->flags & KVM_MEM_GUEST_MEMFD))
#else
#define kvm_split_slot_guest_memfd(slot)	((void)(slot), false)
#endif

#ifndef KVM_SPLIT_HAVE_SLOT_CAN_BE_PRIVATE
#define kvm_slot_can_be_private(slot)	((void)(slot), false)
#endif

/*
 * Whether struct kvm_memory_slot has the guest_memfd binding (slot->gmem):
 * under CONFIG_KVM_PRIVATE_MEM up to 6.12, CONFIG_KVM_GUEST_MEMFD in 7.x
 * (which renamed kvm_slot_can_be_private() to kvm_slot_has_gmem()).
 */
#ifdef KVM_SPLIT_HAVE_SLOT_HAS_GMEM
#define KVM_SPLIT_SLOT_GMEM	IS_ENABLED(CONFIG_KVM_GUEST_MEMFD)
#else
#define KVM_SPLIT_SLOT_GMEM	IS_ENABLED(CONFIG_KVM_PRIVATE_MEM)
#endif

/*
 * --- x86 MMU (for arch/x86/ only: the macros name fields and functions of
 * arch/x86/kvm/mmu/, whose headers the caller includes first) ---
 */

struct kvm_mmu_page;

/*
 * Whether KVM_SPLIT_HUGE_PAGES and the read-locked paths can run: they
 * need the TDP MMU.  6.1 decides per VM (kvm->arch.tdp_mmu_enabled, at VM
 * creation); with no VM (KVM_CHECK_EXTENSION on /dev/kvm) the answer
 * there is whether TDP is enabled, the TDP MMU being the default.
 */
#ifdef KVM_SPLIT_HAVE_GLOBAL_TDP_MMU_ENABLED
#define kvm_split_tdp_mmu_enabled(kvm)	((void)(kvm), tdp_mmu_enabled)
#else
#define kvm_split_tdp_mmu_enabled(kvm) \
	((kvm) ? is_tdp_mmu_enabled(kvm) : tdp_enabled)
#endif

/*
 * The next valid TDP MMU root after @prev, and dropping the reference to a
 * root a walk stops at.  Every kvm-split caller holds mmu_lock for read.
 * 7.x only visits the direct roots: mirror roots (TDX private memory) map
 * only guest_memfd slots, which are never dirty-logged nor re-capped live,
 * and hold no huge pages to split (TDX maps private memory 4K).  The
 * prototype needs tdp_mmu.h's enum, so it is declared only after it.
 */
#if defined(KVM_SPLIT_HAVE_TDP_ROOT_TYPES)
#ifdef __KVM_X86_MMU_TDP_MMU_H
struct kvm_mmu_page *tdp_mmu_next_root(struct kvm *kvm,
				       struct kvm_mmu_page *prev_root,
				       enum kvm_tdp_mmu_root_types types);
#endif
#define kvm_split_next_root(kvm, prev) \
	tdp_mmu_next_root(kvm, prev, KVM_DIRECT_ROOTS)
#define kvm_split_put_root(kvm, root)	kvm_tdp_mmu_put_root(kvm, root)
#elif defined(KVM_SPLIT_HAVE_TDP_ROOT_SHARED)
struct kvm_mmu_page *tdp_mmu_next_root(struct kvm *kvm,
				       struct kvm_mmu_page *prev_root,
				       bool shared, bool only_valid);
#define kvm_split_next_root(kvm, prev)	tdp_mmu_next_root(kvm, prev, true, true)
#define kvm_split_put_root(kvm, root)	kvm_tdp_mmu_put_root(kvm, root, true)
#else
struct kvm_mmu_page *tdp_mmu_next_root(struct kvm *kvm,
				       struct kvm_mmu_page *prev_root,
				       bool only_valid);
#define kvm_split_next_root(kvm, prev)	tdp_mmu_next_root(kvm, prev, true)
#define kvm_split_put_root(kvm, root)	kvm_tdp_mmu_put_root(kvm, root)
#endif

/* 7.x: the TDP iterator asks the VM for its root's gfn bits (TDX). */
#ifdef KVM_SPLIT_HAVE_TDP_ITER_KVM
#define kvm_split_for_each_tdp_pte_min_level(iter, kvm, root, min_level, \
					     start, end) \
	for_each_tdp_pte_min_level(iter, kvm, root, min_level, start, end)
#else
#define kvm_split_for_each_tdp_pte_min_level(iter, kvm, root, min_level, \
					     start, end) \
	for_each_tdp_pte_min_level(iter, ((void)(kvm), root), min_level, \
				   start, end)
#endif

/*
 * A page table for a split, allocated with no lock held: zeroed up to 7.0,
 * not from 7.1 on; tdp_mmu_split_huge_page() writes all 512 entries before
 * it links the table either way, and kvm-split never reads a table it has
 * not linked.  Freeing one that was never linked: 7.x's
 * tdp_mmu_free_unused_sp() also frees the TDX external page (none here).
 */
#ifdef KVM_SPLIT_HAVE_ALLOC_SP_FOR_SPLIT_VOID
struct kvm_mmu_page *tdp_mmu_alloc_sp_for_split(void);
#define kvm_split_alloc_sp()	tdp_mmu_alloc_sp_for_split()
#else
struct kvm_mmu_page *__tdp_mmu_alloc_sp_for_split(gfp_t gfp);
#define kvm_split_alloc_sp()	__tdp_mmu_alloc_sp_for_split(GFP_KERNEL_ACCOUNT)
#endif

#ifdef KVM_SPLIT_HAVE_FREE_UNUSED_SP
void tdp_mmu_free_unused_sp(struct kvm_mmu_page *sp);
#define kvm_split_free_sp(sp)	tdp_mmu_free_unused_sp(sp)
#else
void tdp_mmu_free_sp(struct kvm_mmu_page *sp);
#define kvm_split_free_sp(sp)	tdp_mmu_free_sp(sp)
#endif

/* 6.1's tdp_mmu_split_huge_page() initializes the child page itself. */
#ifdef KVM_SPLIT_HAVE_SPLIT_INITS_CHILD_SP
#define kvm_split_init_child_sp(sp, iter)	((void)(sp), (void)(iter))
#else
#define kvm_split_init_child_sp(sp, iter)	tdp_mmu_init_child_sp(sp, iter)
#endif

/* A page table made for the NX huge page mitigation (6.1: lpage_disallowed). */
#ifdef KVM_SPLIT_HAVE_NX_HUGE_PAGE_DISALLOWED
#define kvm_split_sp_nx_disallowed(sp)	((sp)->nx_huge_page_disallowed)
#else
#define kvm_split_sp_nx_disallowed(sp)	((sp)->lpage_disallowed)
#endif

/*
 * Whether a shadow MMU rmap head is empty, read with no mmu_lock.  7.x's
 * heads are atomic_long_t and carry a lock bit for lockless aging, but an
 * empty head is never locked (__kvm_rmap_lock() elides it), so zero still
 * means empty.
 */
#ifdef KVM_SPLIT_HAVE_RMAP_LOCK
#define kvm_split_rmap_head_empty(head)	(!atomic_long_read(&(head)->val))
#else
#define kvm_split_rmap_head_empty(head)	(!READ_ONCE((head)->val))
#endif

/* 7.x: the PML buffer size (0: no PML) is per VM (TDX has none). */
#ifdef KVM_SPLIT_HAVE_VM_CPU_DIRTY_LOG_SIZE
#define kvm_split_cpu_dirty_log_size(kvm)	((kvm)->arch.cpu_dirty_log_size)
#else
#define kvm_split_cpu_dirty_log_size(kvm) \
	((void)(kvm), kvm_x86_ops.cpu_dirty_log_size)
#endif

#endif /* __KVM_SPLIT_COMPAT_H */
