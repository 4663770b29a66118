// Package api is graphsync's HTTP API for apps, served by every worker
// process (package server mounts it): hosted connect sessions that connect
// an app's end users, their access tokens on demand, a Graph proxy that
// shares the sync's throttle budget, and the change feed. Every /v1
// request but the OpenAPI document carries an API key (`graphsync apikeys create`) as a bearer token;
// a key is limited to some scopes and connections, checked before anything
// is touched. The routes are described in openapi.json, served at
// /v1/openapi.json.
//
// The API does its work through the packages the sync uses: tokens come
// from package token (the same row-locked refresh as the jobs), proxied
// requests pass graph.Client's gates (the mailbox's in-flight cap, the
// tenant's rate limits and the Retry-After windows every process shares
// through the store), and a write through the proxy asks the jobs for a
// sync of what it changed.
package api
