/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Macro-only shims for an older or newer selftests framework, included
 * ahead of every test (upstream's too) by scripts/build-selftests.sh after
 * the KS_HAVE_* probes of the framework it builds with.  No #include and
 * no code here: a macro is expanded where it is used, after the test has
 * included the framework's headers.  Function shims, which need the
 * framework's types, are in kvm_split_util.h.
 */
#ifndef SELFTEST_KVM_SPLIT_COMPAT_H
#define SELFTEST_KVM_SPLIT_COMPAT_H

/*
 * 6.1: no TEST_ASSERT_EQ (Debian's 6.1 dirty_log_test uses it all the
 * same).  Each argument is evaluated once, as upstream's.
 */
#ifndef KS_HAVE_TEST_ASSERT_EQ
#define TEST_ASSERT_EQ(a, b)						\
	do {								\
		typeof(a) __a = (a);					\
		typeof(b) __b = (b);					\
		TEST_ASSERT(__a == __b, "%s == %s failed: %#lx != %#lx", \
			    #a, #b, (unsigned long)__a,			\
			    (unsigned long)__b);			\
	} while (0)
#endif

/* 6.1: __vm_create*() take a guest mode, not a VM shape. */
#ifndef KS_HAVE_VM_SHAPE
#define VM_SHAPE_DEFAULT	VM_MODE_DEFAULT
#endif

/*
 * What a vCPU fault calls to replace a huge SPTE by a page table, so a
 * test can count the faults that raced its walker: 6.2+ split it in place
 * (tdp_mmu_split_huge_page()); 6.1 zaps it and links an empty table
 * (tdp_mmu_link_sp(), which faults on non-present SPTEs and splits call
 * too).
 */
#ifdef KS_HAVE_FAULT_SPLIT
#define KS_FAULT_HUGE_SYM	"tdp_mmu_split_huge_page"
#else
#define KS_FAULT_HUGE_SYM	"tdp_mmu_link_sp"
#endif

/*
 * 7.x: the framework names guest addresses gva_t and gpa_t (vm_vaddr_t
 * and vm_paddr_t before).
 */
#ifdef KS_HAVE_GVA_T
#define vm_vaddr_t	gva_t
#define vm_paddr_t	gpa_t
#endif

/* 7.x: generic_svm_setup() gives L2 the stack vcpu_alloc_svm() made. */
#ifdef KS_HAVE_SVM_OWN_STACK
#define ks_generic_svm_setup(svm, rip, rsp) \
	((void)(rsp), generic_svm_setup(svm, rip))
#else
#define ks_generic_svm_setup(svm, rip, rsp)	generic_svm_setup(svm, rip, rsp)
#endif

/*
 * 7.x: the VMCB's nested_ctl is named misc_ctl, and its nested paging bit
 * SVM_MISC_ENABLE_NP.
 */
#ifdef KS_HAVE_SVM_MISC_CTL
#define ks_vmcb_enable_np(ctrl)	((ctrl)->misc_ctl |= SVM_MISC_ENABLE_NP)
#else
#define ks_vmcb_enable_np(ctrl)	((ctrl)->nested_ctl |= SVM_NESTED_CTL_NP_ENABLE)
#endif

#endif /* SELFTEST_KVM_SPLIT_COMPAT_H */
