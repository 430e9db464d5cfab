/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A multiboot guest for contrib/qemu's tests: it writes one word into every
 * 4 KiB page of its RAM above 2 MiB, forever, so that KVM maps all of it
 * (with huge pages, when QEMU backs it with hugetlbfs) and keeps dirtying
 * it during a migration.  After each sweep it prints "sweep" on COM1; the
 * test reads the serial output to see that the guest runs.
 *
 * 32-bit protected mode without paging, as multiboot starts it; QEMU's
 * -kernel loads it (it refuses 64-bit ELF multiboot images).
 */
	.set	MB_MAGIC, 0x1badb002
	.set	MB_FLAGS, 0x00000002		/* we want the memory map */
	.set	COM1, 0x3f8

	.section .text
	.globl	_start
	.align	4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

_start:
	/* %ebx: multiboot info; mem_upper (KiB above 1 MiB) at offset 8 */
	movl	8(%ebx), %esi
	addl	$1024, %esi
	shll	$10, %esi			/* end of RAM below 4 GiB */
	movl	$1, %edi			/* the value written: sweep number */
sweep:
	movl	$0x200000, %eax
1:	movl	%edi, (%eax)
	addl	$4096, %eax
	cmpl	%esi, %eax
	jb	1b
	incl	%edi
	movl	$msg, %ecx
2:	movb	(%ecx), %al
	testb	%al, %al
	jz	sweep
	movw	$COM1, %dx
	outb	%al, %dx
	incl	%ecx
	jmp	2b

msg:	.asciz	"sweep\n"
