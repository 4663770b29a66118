package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Rejected reports whether PostgreSQL refused a statement for the data it
// was given — a value invalid for its type, too large for an index, nested
// too deep — rather than failing itself: the same data would fail again.
func Rejected(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	// Class 22: data exception; class 54: program limit exceeded.
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")
}
