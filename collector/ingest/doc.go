// Package ingest turns agents' enrollments and reports into store writes. Its parts:
//
//   - ingest.go: the Ingest, credentials (Authenticate), the per-host locks.
//   - report.go: a report's write: one store.Update of the host's record.
//   - apply.go: applyReport, the pure step from the old record and a report to the answer
//     and the new record (verdicts on duplicates and stale reports, deltas applied and
//     checked against their hash, installs dated from their events, the event history).
//   - catalog.go: the fleet's title and build keys a record needs, created before it.
//   - status.go: liveness and capacity, batched per status shard.
//   - delete.go: a host's deletion.
//   - enroll.go, secrets.go, ratelimit.go: enrollment, enroll secrets, the limits on failed
//     enrollments.
//   - written.go: this replica's writes the index's watch has not brought yet.
//
// # Concurrency
//
// Requests of one host run one at a time on a replica: Report, Enroll and DeleteHost take
// the host ID's lock (one of 1024, by hash), so that an agent's reports, which arrive one
// after another anyway, never race each other here. Requests of different hosts run in
// parallel and share nothing but the store, the index (read only) and written.
//
// Between replicas, and between this replica and the truth in etcd, every write is a
// compare-and-swap made by store.Update: it starts from the value this replica holds (its
// own last write from written, else the index's), and when another writer came first, the
// transaction that lost brings the current value and the change is computed again from it.
// Build keys are created before the record that lists them, so any reader that has a
// record has what it needs to decode it; build numbers come from blocks each replica
// reserves on one counter key, so requests number new builds in parallel
// (store.NumberBuilds). Requests of one replica creating the same new title leave it to
// the first (written.claim).
//
// The index is written by its watch alone. Read-your-writes comes from written (like
// client-go's MutationCache): a record, agent, build or title this replica wrote is read
// from there until the index reaches its revision, and the API's reads wait (up to a second)
// for the index to reach this replica's newest write (store.Written). So an agent's next
// report starts from the record its last one made, a credential just issued authenticates,
// a deleted host's credential stops working at once, and an admin sees the change they made.
//
// Status is eventually consistent by design: heartbeats change no record; seen notes the
// host's liveness and capacity in memory and Run writes them per shard every flush interval,
// merged with what other replicas wrote.
//
// # Enrollment
//
// Enrollment (enroll.go) admits new hosts with the fleet's enroll secret, but the secret,
// which every host holds, never takes over a host ID that is enrolled already: that needs
// proof, the host's current credential (the agent keeps it after a 401 and presents it),
// upon which the credential is rotated, or a verified client certificate named after the
// host ID (the API passes the names of the certificate the client CA signed), or the token
// of the enrollment that made the credential (a retry whose answer was lost). Without proof
// the re-enrollment policy decides: approve (the default) holds the request as a pending
// enrollment (a leased etcd key with the remote address, hostname, agent version, time and
// the hash of a token only the requesting agent holds) until an admin approves it, when
// that agent's next request with its token gets a credential and the old one stops
// working, or denies it; refuse answers 409; allow replaces the credential as older
// releases did, which lets anyone with the enroll secret pose as any host. Enrollment of a
// host ID that has no agent (new, or deleted by an admin) needs the secret alone, which
// makes `hosts delete` a way back too. Failed enrollments (a wrong secret, a held or
// refused takeover) are limited by token buckets per remote address and overall (429 with
// Retry-After); successful ones spend nothing, so a fleet enrolling at once is not slowed.
package ingest
