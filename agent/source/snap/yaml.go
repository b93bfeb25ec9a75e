package snap

import (
	"errors"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Meta is what a snap's meta/snap.yaml says of it.
type Meta struct {
	Name, Version, Summary, Title  string
	Confinement, Type, Base, Grade string
	License                        string
	Architectures, Apps            []string
}

// maxApps bounds the apps kept of one snap.
const maxApps = 64

// errMeta is returned for a snap.yaml that is not a mapping naming a snap and its version.
var errMeta = errors.New("not a snap.yaml: no name or version")

// ParseMeta reads a snap's meta/snap.yaml (name, version, summary, confinement, type, base,
// grade, license, architectures, apps). Scalars are read as the text they are written as,
// so `version: 1.10` is "1.10". The apps are their names, sorted, at most maxApps.
func ParseMeta(b []byte) (Meta, error) {
	var doc struct {
		Name          string               `yaml:"name"`
		Version       string               `yaml:"version"`
		Summary       string               `yaml:"summary"`
		Title         string               `yaml:"title"`
		Confinement   string               `yaml:"confinement"`
		Type          string               `yaml:"type"`
		Base          string               `yaml:"base"`
		Grade         string               `yaml:"grade"`
		License       string               `yaml:"license"`
		Architectures []string             `yaml:"architectures"`
		Apps          map[string]yaml.Node `yaml:"apps"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Meta{}, err
	}
	if doc.Name == "" || doc.Version == "" {
		return Meta{}, errMeta
	}
	m := Meta{Name: doc.Name, Version: doc.Version, Summary: doc.Summary, Title: doc.Title,
		Confinement: doc.Confinement, Type: doc.Type, Base: doc.Base, Grade: doc.Grade,
		License: doc.License, Architectures: doc.Architectures}
	for app := range doc.Apps {
		m.Apps = append(m.Apps, app)
	}
	slices.Sort(m.Apps)
	if len(m.Apps) > maxApps {
		m.Apps = m.Apps[:maxApps]
	}
	return m, nil
}
