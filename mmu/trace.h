/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm-split: tracepoints, in their own trace system so that they can never
 * collide with upstream's "kvm" and "kvmmmu" events.
 *
 * kvm_split_huge_pages: one event per walk of the split walker, that is per
 * 64 MiB step of KVM_SPLIT_HUGE_PAGES, per memslot whose page-size cap is
 * lowered, and per chunk of KVM_CLEAR_DIRTY_LOG that is split before being
 * cleared.  The counts are those the walk adds to the split_huge_1g and
 * split_huge_2m statistics.
 */
#if !defined(_TRACE_KVM_SPLIT_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_KVM_SPLIT_H

#include <linux/sizes.h>
#include <linux/tracepoint.h>

#include <kvm-split/kvm_split.h>

#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvm_split

TRACE_DEFINE_ENUM(KVM_SPLIT_BY_IOCTL);
TRACE_DEFINE_ENUM(KVM_SPLIT_BY_MEMSLOT_CAP);
TRACE_DEFINE_ENUM(KVM_SPLIT_BY_CLEAR_DIRTY_LOG);

TRACE_EVENT(kvm_split_huge_pages,
	TP_PROTO(const struct kvm_memory_slot *slot, gfn_t start, u64 npages,
		 u64 page_size, const struct kvm_split_count *count, int ret,
		 enum kvm_split_origin origin),
	TP_ARGS(slot, start, npages, page_size, count, ret, origin),

	TP_STRUCT__entry(
		__field(u16, as_id)
		__field(u16, slot_id)
		__field(u8, target_level)
		__field(u8, origin)
		__field(int, ret)
		__field(u64, gfn)
		__field(u64, npages)
		__field(u64, split_1g)
		__field(u64, split_2m)
	),

	TP_fast_assign(
		__entry->as_id = slot->as_id;
		__entry->slot_id = slot->id;
		/* 1: 4 KiB, 2: 2 MiB, as KVM's x86 and generic page levels. */
		__entry->target_level = page_size == SZ_2M ? 2 : 1;
		__entry->origin = origin;
		__entry->ret = ret;
		__entry->gfn = start;
		__entry->npages = npages;
		__entry->split_1g = count->split_1g;
		__entry->split_2m = count->split_2m;
	),

	TP_printk("as_id %u slot %u gfn 0x%llx npages %llu level %u split_1g %llu split_2m %llu ret %d origin %s",
		  __entry->as_id, __entry->slot_id, __entry->gfn,
		  __entry->npages, __entry->target_level, __entry->split_1g,
		  __entry->split_2m, __entry->ret,
		  __print_symbolic(__entry->origin,
				   { KVM_SPLIT_BY_IOCTL, "ioctl" },
				   { KVM_SPLIT_BY_MEMSLOT_CAP, "memslot_cap" },
				   { KVM_SPLIT_BY_CLEAR_DIRTY_LOG, "clear_dirty_log" }))
);

#endif /* _TRACE_KVM_SPLIT_H */

/*
 * Found through -I$(src) (arch/x86/kvm of the assembled tree, see Kbuild),
 * under which scripts/assemble.sh puts our sources in kvm-split/.
 */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH kvm-split/mmu
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace

/* This part must be outside protection */
#include <trace/define_trace.h>
