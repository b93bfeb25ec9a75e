//go:build !unix

package source

import "os"

const openRegularFlags = os.O_RDONLY
