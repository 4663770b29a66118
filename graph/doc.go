// Package graph is graphsync's client of Microsoft Graph: GET requests and
// delta paging under per-mailbox and per-tenant throttling, retries of what
// is safe to retry, and typed errors. It knows nothing of PostgreSQL.
//
// # Paging
//
// Client.GetPage fetches one page; callers follow Page.NextLink verbatim
// until a page carries Page.DeltaLink, which they store for the next round.
// Items stay raw so that one bad record cannot fail a page (see package
// graphsync for decoding and mapping them).
//
// # Throttling
//
// Each Call names its Service, tenant and mailbox; graphsync.ScopeOf picks
// the scope whose gate it passes: a token bucket, a cap on requests in
// flight (Outlook's 4 per mailbox) and the scope's Retry-After window.
//
// # Errors
//
// Graph answers come back as *Error; branch with the predicates, never on
// messages:
//
//   - IsThrottled: Graph, or a Retry-After window this process holds for the
//     scope, wants the caller away for the returned duration. Windows up to
//     Config.MaxInlineWait are waited in place; longer ones are returned so
//     the job can snooze and persist the window (Client.BlockedUntil; seed
//     other processes with Client.Block).
//   - IsSyncReset: the delta state is gone; drop the deltaLink and start a
//     new round, from Error.Location when set.
//   - IsUnauthorized: the access token expired; refresh and retry the link.
//   - IsForbidden: a permission is missing.
//   - IsNotFound: the mailbox, folder or item does not exist.
package graph
