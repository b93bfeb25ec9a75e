package inventory

import (
	"log/slog"

	"github.com/onus-project/onus/agent/hostfs"
)

// SourceOptions is what the platform's sources are built from.
type SourceOptions struct {
	Root     hostfs.Root
	StateDir string
	Labels   map[string]string
	Logger   *slog.Logger
}
