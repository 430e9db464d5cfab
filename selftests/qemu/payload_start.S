/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Multiboot (version 1) header and entry of the migration payload.  The
 * loader enters in 32-bit protected mode, paging off, with the magic in
 * %eax and the multiboot information in %ebx; we only need a stack.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-aligned modules, memory info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	cld
	movl $stack_top, %esp
	pushl %ebx
	pushl %eax
	call payload_main
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits

	.bss
	.align 16
	.space 16384
stack_top:
