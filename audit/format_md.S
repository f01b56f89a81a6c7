/* format_md.S - audit/FORMAT.md, built into the binary: an evidence export
 * carries the specification it is to be checked against. */
	.section .rodata
	.globl al_audit_format_md
al_audit_format_md:
	.incbin "audit/FORMAT.md"
	.byte 0
	.section .note.GNU-stack,"",@progbits
