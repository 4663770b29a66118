// Package jobs holds graphsync's River workers: token refresh, the periodic
// scheduler and the per-resource sync jobs. It wires the Graph client
// (package graphsync) to the database (package store).
package jobs
