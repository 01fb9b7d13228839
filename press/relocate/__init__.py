"""Binary relocation: rewrite the library references of ELF (and, later, Mach-O
and PE) files so they resolve inside the wheel."""
