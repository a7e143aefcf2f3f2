package bccbackend

/*
#cgo LDFLAGS: -lbcc -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#if __has_include(<bcc/bcc_version.h>)
#include <bcc/bcc_version.h>
#endif
#ifndef LIBBCC_VERSION
#define LIBBCC_VERSION ""
#endif

// One of libbcc's exported functions, to find the library it lives in.
extern unsigned int bpf_module_kern_version(void *program);

static const char *evtrace_bcc_header_version(void) { return LIBBCC_VERSION; }

// evtrace_bcc_library is the file the dynamic linker loaded libbcc from
// (as it named it: libbcc.so.0), or NULL.
static const char *evtrace_bcc_library(void)
{
	Dl_info info;

	if (dladdr((void *)&bpf_module_kern_version, &info) == 0)
		return NULL;
	return info.dli_fname;
}
*/
import "C"

import (
	"path/filepath"
	"strings"
)

// LibraryVersion says which libbcc evtrace runs with: the version of the
// shared library the dynamic linker loaded (from its file name, e.g.
// libbcc.so.0.26.0), its path, and the version of bcc_version.h evtrace
// was built against. A field the system does not tell is "".
type LibraryVersion struct {
	Version string // e.g. "0.26.0"
	Path    string // e.g. "/usr/lib/x86_64-linux-gnu/libbcc.so.0.26.0"
	Headers string // LIBBCC_VERSION at build time
}

// Version reports the libbcc evtrace is linked against.
func Version() LibraryVersion {
	v := LibraryVersion{Headers: C.GoString(C.evtrace_bcc_header_version())}
	name := C.evtrace_bcc_library()
	if name == nil {
		return v
	}
	v.Path = C.GoString(name)
	if real, err := filepath.EvalSymlinks(v.Path); err == nil {
		v.Path = real
	}
	if _, after, ok := strings.Cut(filepath.Base(v.Path), ".so."); ok && strings.Count(after, ".") == 2 {
		v.Version = after
	}
	return v
}
