// Package layout holds the test that keeps internal/ the bottom layer of the tree: the
// packages under internal/ (model, protocol, store, owners, test helpers) are what
// agent/, collector/, the load generator (loadgen/), the end-to-end tests (e2e/) and the
// fault campaign (chaos/) build on, so none of them, tests included, may import a package of
// this module outside internal/. A helper that needs a running collector or agent belongs
// beside the code that uses it, not here.
package layout
