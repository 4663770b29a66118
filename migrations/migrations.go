// Package migrations embeds graphsync's numbered SQL migrations
// (NNN_name.up.sql), applied in order by store.Migrate.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
