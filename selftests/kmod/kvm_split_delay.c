// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_split_delay: a test-only module that widens race windows in KVM.
 *
 * A race between two mmu_lock readers (a vCPU fault and a dirty log clear,
 * a split walk and a zap) is a window of a few hundred nanoseconds, which a
 * test hits once in hours, if ever.  This module busy-waits at chosen
 * functions through kprobes, so that the window lasts milliseconds and a
 * test that hammers the other side hits it within seconds.  Loaded by the
 * selftests that need it (selftests/kvm_split_util.h: ks_delay_load()),
 * never on a production host.  It calls nothing in KVM, so it works on the
 * distro's KVM as on ours.
 *
 * Parameters (read-only once loaded):
 *   probes=<probe>[,<probe>...]     at most KSD_MAX_PROBES
 *     <probe> = <symbol>[%ret]:<usecs>[:<every>]
 *       <symbol>  a function, in vmlinux or a loaded module (kvm, kvm_amd)
 *       %ret      delay when the function returns instead of on entry
 *       <usecs>   busy-wait this long (interrupts may be off: keep it short)
 *       <every>   only on every <every>-th hit (default 1)
 *   hits          "<symbol> <hits> <delayed>" per probe, one per line
 *
 * Locking: the handlers run in whatever context the probed function runs
 * in, holding its locks (that is the point) with preemption disabled; they
 * only count with atomics and spin.
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#define KSD_MAX_PROBES	4

struct ksd_probe {
	char sym[KSYM_NAME_LEN];
	bool ret;
	unsigned long usecs;
	unsigned long every;
	atomic_long_t hits;
	atomic_long_t delayed;
	struct kprobe kp;
	struct kretprobe krp;
	bool registered;
};

static struct ksd_probe ksd_probes[KSD_MAX_PROBES];
static int ksd_nr;

static char probes[256];
module_param_string(probes, probes, sizeof(probes), 0444);
MODULE_PARM_DESC(probes, "<symbol>[%ret]:<usecs>[:<every>],...");

static void ksd_hit(struct ksd_probe *p)
{
	u64 end;

	if (atomic_long_inc_return(&p->hits) % p->every)
		return;
	atomic_long_inc(&p->delayed);
	/*
	 * Timed by the clock the tests' timers use, not udelay(): under TCG
	 * a guest's udelay() calibration can be far off (6.1 guests delayed
	 * 100 ms in a few), and a test that sends a signal during a delay
	 * then saw it arrive after.  The NMI-safe accessor of that clock: a
	 * kprobe handler runs in int3 context, where ktime_get_ns()'s
	 * seqcount may be held by the code it interrupted (lockdep reports
	 * it on the debug kernel).
	 */
	end = ktime_get_mono_fast_ns() + (u64)p->usecs * NSEC_PER_USEC;
	while (ktime_get_mono_fast_ns() < end)
		cpu_relax();
}

static int ksd_pre(struct kprobe *kp, struct pt_regs *regs)
{
	ksd_hit(container_of(kp, struct ksd_probe, kp));
	return 0;
}

static int ksd_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct kretprobe *krp = get_kretprobe(ri);

	if (krp)
		ksd_hit(container_of(krp, struct ksd_probe, krp));
	return 0;
}

static int ksd_parse(char *spec, struct ksd_probe *p)
{
	char *sym = strsep(&spec, ":"), *usecs = strsep(&spec, ":");
	char *pct = strchr(sym, '%');

	if (!usecs || !*sym)
		return -EINVAL;
	if (pct) {
		if (strcmp(pct, "%ret"))
			return -EINVAL;
		*pct = '\0';
		p->ret = true;
	}
	if (strscpy(p->sym, sym, sizeof(p->sym)) < 0 ||
	    kstrtoul(usecs, 0, &p->usecs) || p->usecs > 1000000)
		return -EINVAL;
	p->every = 1;
	if (spec && (kstrtoul(spec, 0, &p->every) || !p->every))
		return -EINVAL;
	return 0;
}

static int ksd_register(struct ksd_probe *p)
{
	int r;

	if (p->ret) {
		p->krp.kp.symbol_name = p->sym;
		p->krp.handler = ksd_ret;
		p->krp.maxactive = 64;
		r = register_kretprobe(&p->krp);
	} else {
		p->kp.symbol_name = p->sym;
		p->kp.pre_handler = ksd_pre;
		r = register_kprobe(&p->kp);
	}
	if (r)
		pr_err("kvm_split_delay: cannot probe %s: %d\n", p->sym, r);
	p->registered = !r;
	return r;
}

static void ksd_unregister_all(void)
{
	int i;

	for (i = 0; i < ksd_nr; i++) {
		struct ksd_probe *p = &ksd_probes[i];

		if (!p->registered)
			continue;
		if (p->ret)
			unregister_kretprobe(&p->krp);
		else
			unregister_kprobe(&p->kp);
		p->registered = false;
	}
}

static int hits_get(char *buf, const struct kernel_param *kp)
{
	int i, n = 0;

	for (i = 0; i < ksd_nr; i++)
		n += sysfs_emit_at(buf, n, "%s %ld %ld\n", ksd_probes[i].sym,
				   atomic_long_read(&ksd_probes[i].hits),
				   atomic_long_read(&ksd_probes[i].delayed));
	return n;
}

static const struct kernel_param_ops hits_ops = {
	.get = hits_get,
};
module_param_cb(hits, &hits_ops, NULL, 0444);
MODULE_PARM_DESC(hits, "<symbol> <hits> <delayed> per probe");

static int __init ksd_init(void)
{
	char spec[sizeof(probes)], *s = spec, *one;
	int r;

	strscpy(spec, probes, sizeof(spec));
	while ((one = strsep(&s, ",")) && *one) {
		if (ksd_nr == KSD_MAX_PROBES)
			return -E2BIG;
		r = ksd_parse(one, &ksd_probes[ksd_nr]);
		if (r)
			return r;
		ksd_nr++;
	}
	if (!ksd_nr)
		return -EINVAL;

	for (r = 0; r < ksd_nr; r++) {
		int e = ksd_register(&ksd_probes[r]);

		if (e) {
			ksd_unregister_all();
			return e;
		}
	}
	return 0;
}

static void __exit ksd_exit(void)
{
	ksd_unregister_all();
}

module_init(ksd_init);
module_exit(ksd_exit);
MODULE_DESCRIPTION("kvm-split selftests: widen race windows with delays");
MODULE_LICENSE("GPL");
