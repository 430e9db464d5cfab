/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by kvm-split's selftests.
 */
#ifndef SELFTEST_KVM_SPLIT_UTIL_H
#define SELFTEST_KVM_SPLIT_UTIL_H

#include "kvm_util.h"
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

#endif /* SELFTEST_KVM_SPLIT_UTIL_H */
