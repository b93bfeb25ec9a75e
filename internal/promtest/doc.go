// Package promtest runs a real Prometheus (the Debian package's /usr/bin/prometheus) for
// tests: Start scrapes a collector every second and evaluates the shipped rules, Query and
// Samples ask it. It depends on nothing of the collector's or the agent's, so any package may
// use it; the tests that run the Grafana dashboards and the rules against a real collector
// are in e2e/monitoring.
package promtest
