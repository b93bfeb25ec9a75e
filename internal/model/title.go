package model

import "strings"

// TitleKey returns the fleet-wide key of a software title, "source:name", e.g. "deb:nginx":
// the one form the protocol's events, the index, the API and the ownership rules use.
func TitleKey(source, name string) string { return source + ":" + name }

// AppendTitleKey appends TitleKey(source, name) to b, for hot paths that build keys in a
// reused buffer.
func AppendTitleKey(b []byte, source, name string) []byte {
	return append(append(append(b, source...), ':'), name...)
}

// SplitTitleKey splits a key made by TitleKey into its source and name. A source never holds
// a colon; a name may. ok is false when key has no colon.
func SplitTitleKey(key string) (source, name string, ok bool) {
	return strings.Cut(key, ":")
}
