/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm-split: upstream x86 MMU functions that the hook patches make
 * non-static so that kvm-split's walker (arch/x86/split.c) can reuse them.
 * Included by the patched mmu.c and tdp_mmu.c so the prototypes are checked
 * against the definitions.  Semantics and locking are upstream's.
 */
#ifndef __KVM_SPLIT_X86_MMU_H
#define __KVM_SPLIT_X86_MMU_H

struct kvm;
struct kvm_mmu_page;
struct kvm_memory_slot;
struct tdp_iter;

/* mmu/tdp_mmu.c */
struct kvm_mmu_page *tdp_mmu_next_root(struct kvm *kvm,
				       struct kvm_mmu_page *prev_root,
				       bool only_valid);
void tdp_mmu_free_sp(struct kvm_mmu_page *sp);
void tdp_mmu_init_child_sp(struct kvm_mmu_page *child_sp,
			   struct tdp_iter *iter);
bool __must_check tdp_mmu_iter_cond_resched(struct kvm *kvm,
					    struct tdp_iter *iter,
					    bool flush, bool shared);
struct kvm_mmu_page *tdp_mmu_alloc_sp_for_split(void);
int tdp_mmu_split_huge_page(struct kvm *kvm, struct tdp_iter *iter,
			    struct kvm_mmu_page *sp, bool shared);

/* mmu/mmu.c */
void kvm_shadow_mmu_try_split_huge_pages(struct kvm *kvm,
					 const struct kvm_memory_slot *slot,
					 gfn_t start, gfn_t end,
					 int target_level);

#endif /* __KVM_SPLIT_X86_MMU_H */
