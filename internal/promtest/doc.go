// Package promtest holds a test that runs the Grafana dashboards (deploy/grafana) and the
// Prometheus rules (deploy/prometheus/onus-rules.yml) against a real Prometheus scraping a
// real collector, and measures the unowned-software chain from install to alert.
package promtest
