// Package chaos is the fault campaign: tests that start the real binaries (onus-collector,
// onus-agent, the load generator's fleet, an etcd server built from the etcd module the
// collector embeds) as processes on 127.0.0.1, kill them with SIGKILL by PID, take away etcd's
// quorum or its space, and check that nothing an agent was told was stored is lost, that the
// collectors say 503 with Retry-After while the store cannot take writes, and how long the
// recovery takes.
//
// The tests run only when ONUS_CHAOS is set and ONUS_CHAOS_BIN names the directory holding
// onus-collector, onus-agent and etcd: "make chaos" builds them and runs the campaign. Each
// scenario prints its figures (time to recover, reports or events lost, answers by status),
// and the campaign prints them all again at its end. docs/operations.md says what each
// scenario proves.
package chaos
