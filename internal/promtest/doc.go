// Package promtest runs a real Prometheus (the Debian package's /usr/bin/prometheus) for
// tests: Start scrapes a collector every second and evaluates the shipped rules, Query and
// Samples ask it. Its own test runs the Grafana dashboards (deploy/grafana) and the rules
// (deploy/prometheus/onus-rules.yml) against a collector fed with golden inventories and the
// load generator's fleet, and measures the unowned-software chain from install to alert.
package promtest
