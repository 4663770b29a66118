// Package changes is the change feed as apps consume it: reading it from a
// cursor (Feed.Read), following it as it grows (Feed.Follow, woken by the
// feed's notifications), and delivering it to webhook endpoints in signed
// batches (Deliverer), with the signature a receiver checks (Verify).
//
// The feed itself is written by PostgreSQL triggers in the transaction of
// every synced row's change (migrations/014_changes.up.sql) and read by the
// store; a position in it is a graphsync.Cursor. A reader never skips a
// committed change and reads each once, a row's changes in commit order;
// README.md ("For apps") gives the SQL an app can run itself, and
// docs/architecture.md ("The change feed") why it works.
package changes
