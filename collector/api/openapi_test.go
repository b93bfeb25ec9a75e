package api

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsRoutes checks that openapi.yaml documents exactly the routes the API
// serves.
func TestOpenAPIDocumentsRoutes(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := Routes()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented routes differ from served ones:\ndocumented %q\nserved     %q", documented, served)
	}
}

// TestOpenAPIEnrollAnswers checks that openapi.yaml documents every answer of an
// enrollment, and the Retry-After header of the pending and rate-limited ones, which agents
// rely on.
func TestOpenAPIEnrollAnswers(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	node, ok := doc.Paths["/api/v1/enroll"]["post"]
	if !ok {
		t.Fatal("POST /api/v1/enroll not documented")
	}
	var op struct {
		Responses map[string]struct {
			Headers map[string]any `yaml:"headers"`
		} `yaml:"responses"`
	}
	if err := node.Decode(&op); err != nil {
		t.Fatalf("POST /api/v1/enroll: %v", err)
	}
	for _, code := range []string{"200", "202", "400", "401", "403", "409", "413", "429", "503"} {
		if _, ok := op.Responses[code]; !ok {
			t.Errorf("POST /api/v1/enroll: answer %s not documented", code)
		}
	}
	for _, code := range []string{"202", "429"} {
		if _, ok := op.Responses[code].Headers["Retry-After"]; !ok {
			t.Errorf("POST /api/v1/enroll: answer %s without its Retry-After header", code)
		}
	}
}
