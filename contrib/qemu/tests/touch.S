/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A multiboot guest for contrib/qemu's tests: it writes one word into every
 * 4 KiB page of its RAM above 2 MiB, forever, so that KVM maps all of it
 * (with huge pages, when QEMU backs it with hugetlbfs) and keeps dirtying
 * it during a migration.  Sweep n writes n and first checks that the page
 * still holds n - 1 (from sweep 2 on), so a page a migration lost or
 * sent stale is found on the destination: the guest then prints "BAD" and
 * halts.  After each sweep it prints "sweep" on COM1; the test reads the
 * serial output to see that the guest runs and verifies.
 *
 * Its rate: the last number on its command line (-append) is a delay, in
 * iterations of an empty loop, after each page (default 0: as fast as it
 * can).  It prints "." after every 256 pages (1 MiB), so that the test can
 * follow its progress by the size of its serial output.
 *
 * 32-bit protected mode without paging, as multiboot starts it; QEMU's
 * -kernel loads it (it refuses 64-bit ELF multiboot images).
 */
	.set	MB_MAGIC, 0x1badb002
	.set	MB_FLAGS, 0x00000002		/* we want the memory map */
	.set	MBI_CMDLINE_FLAG, 0x4
	.set	COM1, 0x3f8

	.section .text
	.globl	_start
	.align	4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

_start:
	movl	$0x90000, %esp			/* a stack in conventional RAM */
	/* %ebx: multiboot info; mem_upper (KiB above 1 MiB) at offset 8 */
	movl	8(%ebx), %esi
	addl	$1024, %esi
	shll	$10, %esi			/* end of RAM below 4 GiB */
	/* the delay: the last number of the command line (offset 16) */
	xorl	%edx, %edx
	testl	$MBI_CMDLINE_FLAG, (%ebx)
	jz	8f
	movl	16(%ebx), %ecx
6:	movzbl	(%ecx), %eax
	testl	%eax, %eax
	jz	8f
	incl	%ecx
	subl	$'0', %eax
	cmpl	$9, %eax
	jbe	7f
	xorl	%edx, %edx			/* not a digit: start over */
	jmp	6b
7:	imull	$10, %edx
	addl	%eax, %edx
	jmp	6b
8:	movl	%edx, %ebx			/* %ebx: the delay from now on */
	movl	$1, %edi			/* the value written: sweep number */
sweep:
	movl	$0x200000, %eax
	leal	-1(%edi), %ebp			/* what the last sweep wrote */
1:	cmpl	$1, %edi			/* the firmware used some RAM */
	je	5f
	cmpl	%ebp, (%eax)
	jne	bad
5:	movl	%edi, (%eax)
	movl	%ebx, %ecx
	jecxz	9f
10:	loop	10b
9:	testl	$0xfffff, %eax			/* every 1 MiB: "." */
	jnz	11f
	pushl	%eax
	movb	$'.', %al
	movw	$COM1, %dx
	outb	%al, %dx
	popl	%eax
11:	addl	$4096, %eax
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

bad:	movl	$badmsg, %ecx
3:	movb	(%ecx), %al
	testb	%al, %al
	jz	4f
	movw	$COM1, %dx
	outb	%al, %dx
	incl	%ecx
	jmp	3b
4:	cli
	hlt
	jmp	4b

msg:	.asciz	"sweep\n"
badmsg:	.asciz	"BAD\n"
