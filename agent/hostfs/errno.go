package hostfs

import "syscall"

const syscallENOTDIR = syscall.ENOTDIR
