package source

import (
	"path"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
)

// ExpandDirs returns the host paths under base that the pattern's elements match, in name
// order. An element with a glob character (*, ? or [) matches the directories of its parent
// that path.Match matches, never a symbolic link nor a name starting with "."; any other
// element is taken as it is, whether it exists or not. It returns at most about max paths:
// it stops reading a directory once that many are found.
func ExpandDirs(root hostfs.Root, base string, elems []string, max int) []string {
	if len(elems) == 0 {
		return []string{base}
	}
	if !strings.ContainsAny(elems[0], "*?[") {
		return ExpandDirs(root, base+"/"+elems[0], elems[1:], max)
	}
	entries, err := root.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if ok, _ := path.Match(elems[0], e.Name()); ok && e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, ExpandDirs(root, base+"/"+e.Name(), elems[1:], max)...)
			if len(out) >= max {
				break
			}
		}
	}
	return out
}
