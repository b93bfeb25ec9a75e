//go:build unix

package source

import (
	"os"
	"syscall"
)

const openRegularFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY
