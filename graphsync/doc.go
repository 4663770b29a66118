// Package graphsync talks to Microsoft Graph and the Microsoft identity
// platform over HTTP: the OAuth flows, a throttling-aware Graph client with
// typed errors, delta paging, and the Graph resource types graphsync syncs.
// It knows nothing of PostgreSQL.
package graphsync
