// Package docs holds the documentation of Onus, in Markdown, and the tests that keep it in
// sync with the code: every alert of deploy/prometheus/onus-rules.yml has a runbook section
// its runbook_url points to, every relative link of docs/*.md and README.md resolves, and
// the owners.yaml examples of owners.md load with the real loader.
package docs
