package brew

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Receipt is what the source reads of an INSTALL_RECEIPT.json, the tab Homebrew writes
// into each keg (Library/Homebrew/tab.rb, Tab#to_json) and, since Homebrew 4.3, into a
// cask's .metadata directory (CaskTab).
type Receipt struct {
	HomebrewVersion       string
	InstalledOnRequest    *bool
	InstalledAsDependency *bool
	PouredFromBottle      *bool
	BuiltAsBottle         *bool
	Time                  time.Time // zero when the receipt has none
	Arch                  string
	Tap                   string // "" when installed from a file or URL
	Stable                string // source.versions.stable: the formula's version without revision
}

// Requested is "explicit" for a receipt installed on request, "dependency" for one
// installed as a dependency only, "" when it says neither (receipts older than Homebrew
// 1.1 have both false).
func (r Receipt) Requested() string {
	switch {
	case r.InstalledOnRequest != nil && *r.InstalledOnRequest:
		return "explicit"
	case r.InstalledAsDependency != nil && *r.InstalledAsDependency:
		return "dependency"
	}
	return ""
}

// maxTime bounds a receipt's time: seconds since 1970, before year 3000.
const maxTime = 32503680000

// ParseReceipt parses an INSTALL_RECEIPT.json. A file that is not a JSON object, or whose
// fields the source reads have the wrong type, is an error; a field absent or null is left
// empty. Taps Homebrew renamed ("Homebrew/homebrew", "mxcl/master") are "homebrew/core", as
// Tab.from_file_content reads them, and tap names are lower case, as Tap.fetch makes them.
func ParseReceipt(b []byte) (Receipt, error) {
	var doc struct {
		HomebrewVersion       *string  `json:"homebrew_version"`
		InstalledOnRequest    *bool    `json:"installed_on_request"`
		InstalledAsDependency *bool    `json:"installed_as_dependency"`
		PouredFromBottle      *bool    `json:"poured_from_bottle"`
		BuiltAsBottle         *bool    `json:"built_as_bottle"`
		Time                  *float64 `json:"time"`
		Arch                  *string  `json:"arch"`
		TappedFrom            *string  `json:"tapped_from"`
		Source                *struct {
			Tap      *string `json:"tap"`
			Versions *struct {
				Stable *string `json:"stable"`
			} `json:"versions"`
		} `json:"source"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Receipt{}, err
	}
	r := Receipt{
		HomebrewVersion:       deref(doc.HomebrewVersion),
		InstalledOnRequest:    doc.InstalledOnRequest,
		InstalledAsDependency: doc.InstalledAsDependency,
		PouredFromBottle:      doc.PouredFromBottle,
		BuiltAsBottle:         doc.BuiltAsBottle,
		Arch:                  deref(doc.Arch),
	}
	if doc.Time != nil && *doc.Time > 0 && *doc.Time < maxTime {
		r.Time = time.Unix(int64(*doc.Time), 0).UTC()
	}
	if doc.Source != nil {
		r.Tap = deref(doc.Source.Tap)
		if doc.Source.Versions != nil {
			r.Stable = deref(doc.Source.Versions.Stable)
		}
	}
	if t := deref(doc.TappedFrom); t != "" && t != "path or URL" {
		r.Tap = t
	}
	if r.Tap == "mxcl/master" || r.Tap == "Homebrew/homebrew" {
		r.Tap = "homebrew/core"
	}
	r.Tap = strings.ToLower(r.Tap)
	return r, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Caskfile is what the source reads of the cask definition Homebrew saves when it installs
// a cask, .metadata/<version>/<timestamp>/Casks/<token>.json (the cask as the API or
// Cask#to_installed_json_hash gives it) or <token>.rb (the cask's Ruby source).
type Caskfile struct {
	Token, Name, Version, Tap, Desc string
	AutoUpdates                     bool
}

// ParseCaskJSON parses a saved <token>.json: {"token": ..., "name": ["App"], "version":
// "1.2.3", "tap": "homebrew/cask", "desc": ..., "auto_updates": true, ...}. A file that is
// not a JSON object, or whose fields have the wrong type, is an error.
func ParseCaskJSON(b []byte) (Caskfile, error) {
	var doc struct {
		Token       *string  `json:"token"`
		Name        []string `json:"name"`
		Version     *string  `json:"version"`
		Tap         *string  `json:"tap"`
		Desc        *string  `json:"desc"`
		AutoUpdates *bool    `json:"auto_updates"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Caskfile{}, err
	}
	c := Caskfile{Token: deref(doc.Token), Version: deref(doc.Version), Tap: strings.ToLower(deref(doc.Tap)),
		Desc: deref(doc.Desc), AutoUpdates: doc.AutoUpdates != nil && *doc.AutoUpdates}
	if len(doc.Name) > 0 {
		c.Name = doc.Name[0]
	}
	return c, nil
}

// ParseCaskRB reads a saved <token>.rb without evaluating it: the token of its
// `cask "<token>" do` line, and the first `name "..."` and `version "..."` (or `version
// :latest`) lines, each a string literal alone on its line. Anything else, the Ruby that
// computes a version or a name included, is left unread.
func ParseCaskRB(b []byte) Caskfile {
	var c Caskfile
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		word, rest, _ := strings.Cut(l, " ")
		switch word {
		case "cask":
			if s, ok := rbString(strings.TrimSuffix(strings.TrimSpace(rest), " do")); ok && c.Token == "" {
				c.Token = s
			}
		case "name":
			if s, ok := rbString(rest); ok && c.Name == "" {
				c.Name = s
			}
		case "version":
			if strings.TrimSpace(rest) == ":latest" && c.Version == "" {
				c.Version = "latest"
			} else if s, ok := rbString(rest); ok && c.Version == "" {
				c.Version = s
			}
		}
	}
	return c
}

// rbString reads a Ruby string literal that is the whole of s, "..." or '...', with no
// interpolation or escape in it.
func rbString(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " #"); i >= 0 { // a trailing comment
		s = strings.TrimSpace(s[:i])
	}
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return "", false
	}
	in := s[1 : len(s)-1]
	if strings.ContainsAny(in, "\"'\\") || strings.Contains(in, "#{") {
		return "", false
	}
	return in, true
}
