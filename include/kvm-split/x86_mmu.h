/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm-split: upstream x86 MMU functions that the hook patches make
 * non-static so that kvm-split's walker (arch/x86/split.c) can reuse them.
 * Included by the patched mmu.c and tdp_mmu.c so the prototypes are checked
 * against the definitions.  Semantics and locking are upstream's.
 */
#ifndef __KVM_SPLIT_X86_MMU_H
#define __KVM_SPLIT_X86_MMU_H

#include <linux/kvm_host.h>

#include <kvm-split/kvm_split.h>

struct kvm_mmu_page;
struct tdp_iter;

/* mmu/tdp_mmu.c (those whose signature differs per series: compat.h) */
void tdp_mmu_init_child_sp(struct kvm_mmu_page *child_sp,
			   struct tdp_iter *iter);
bool __must_check tdp_mmu_iter_cond_resched(struct kvm *kvm,
					    struct tdp_iter *iter,
					    bool flush, bool shared);
int tdp_mmu_split_huge_page(struct kvm *kvm, struct tdp_iter *iter,
			    struct kvm_mmu_page *sp, bool shared);
int __must_check tdp_mmu_set_spte_atomic(struct kvm *kvm,
					 struct tdp_iter *iter,
					 u64 new_spte);

/* mmu/mmu.c */
void kvm_shadow_mmu_try_split_huge_pages(struct kvm *kvm,
					 const struct kvm_memory_slot *slot,
					 gfn_t start, gfn_t end,
					 int target_level);

/*
 * kvm-split's hooks in the x86 MMU (arch/x86/page_size.c).
 */

/* The largest mapping level @slot's KVM_MEM_MAX_PAGE_* flags allow. */
static inline int kvm_split_slot_max_level(const struct kvm_memory_slot *slot)
{
	if (likely(!(slot->flags & KVM_MEM_MAX_PAGE_MASK)))
		return KVM_MAX_HUGEPAGE_LEVEL;
	return slot->flags & KVM_MEM_MAX_PAGE_4K ? PG_LEVEL_4K : PG_LEVEL_2M;
}

void kvm_split_apply_page_size(struct kvm *kvm,
			       const struct kvm_memory_slot *old,
			       const struct kvm_memory_slot *new,
			       enum kvm_mr_change change);

#endif /* __KVM_SPLIT_X86_MMU_H */
