// Package graphsync talks to Microsoft Graph and the Microsoft identity
// platform over HTTP: the OAuth flows, a throttling-aware Graph client with
// typed errors, delta paging, and the Graph resource types graphsync syncs.
// It knows nothing of PostgreSQL.
//
// # Paging
//
// Client.GetPage fetches one page; callers follow Page.NextLink verbatim
// until a page carries Page.DeltaLink, which they store for the next round.
// Items stay raw so that one bad record cannot fail a page: decode each with
// DecodeMessage and friends, quarantine the record on a *DecodeError, check
// Removed for tombstones and DriveItem.Deleted for drive deletions, and merge
// (never replace) entries for which Partial reports true.
//
// # Errors
//
// Graph answers come back as *Error; branch with the predicates, never on
// messages:
//
//   - IsThrottled: Graph, or a Retry-After window this process holds for the
//     mailbox or tenant, wants the caller away for the returned duration.
//     Windows up to ClientConfig.MaxInlineWait are waited in place; longer
//     ones are returned so the job can snooze and persist the window
//     (Client.BlockedUntil; seed other processes with Client.Block).
//   - IsSyncReset: the delta state is gone; drop the deltaLink and start a
//     new round, from Error.Location when set.
//   - IsUnauthorized: the access token expired; refresh and retry the link.
//   - IsForbidden: a scope is missing (RequiredScope names it).
//   - IsNotFound: the mailbox, folder or item does not exist.
//
// Token endpoint failures come back as *TokenError: NeedsReauth means the user
// must sign in again, ClientProblem means the operator's app registration or
// secret is wrong, and Reason explains either in plain language.
package graphsync
