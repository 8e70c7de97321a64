package runners

import (
	"debug/elf"
	"errors"
	"io"
)

// StaticLinuxAMD64 reports whether the file at path is a statically linked
// linux/amd64 executable (as CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build
// makes): a 64-bit x86-64 ELF executable for Linux (or no particular OS)
// with no program interpreter and no dynamic section, so it needs no shared
// library on the machine that runs it. A file that is not ELF is not one;
// only a file that cannot be read is an error.
func StaticLinuxAMD64(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		var format *elf.FormatError
		if errors.As(err, &format) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil // too short or no ELF magic
		}
		return false, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC ||
		(f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX) {
		return false, nil
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return false, nil
		}
	}
	return f.Section(".dynamic") == nil, nil
}
