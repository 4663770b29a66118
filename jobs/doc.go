// Package jobs holds graphsync's River jobs: the periodic scheduler, one
// sync job per mailbox and the token refresh. Its workers are thin: a sync
// job hands its mailbox to the sync engine (Syncer) and turns the engine's
// Outcome into River's terms (snooze, retry, done); a refresh job asks the
// token source (Refresher). River is the distributed engine: more worker
// processes on the same database share the queues.
package jobs
