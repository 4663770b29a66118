package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Person is a row of people.
type Person struct {
	ID                   string
	UserID               string
	DisplayName          string
	GivenName            string
	Surname              string
	JobTitle             string
	CompanyName          string
	Department           string
	OfficeLocation       string
	UserPrincipalName    string
	PersonClass          string
	PersonSubclass       string
	ScoredEmailAddresses []byte // JSON
	Phones               []byte // JSON
	RelevanceRank        int32
	Raw                  []byte
}

// UpsertPeopleTx writes one page of a user's people list and marks them seen
// by the round begun at seenAt. Only rows whose raw JSON or rank changed (or
// that were retired) are rewritten with a new synced_at; the others only get
// their seen mark, so an unchanged list leaves synced_at alone.
//
// People are keyed by user as well as id: the same colleague is relevant to
// many users of one application connection.
func (s *Store) UpsertPeopleTx(ctx context.Context, tx pgx.Tx, connectionID int64, ps []Person, seenAt time.Time) (int64, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	// A list that shifted between two pages can repeat a person; the later
	// (lower-ranked) occurrence wins, as one INSERT cannot touch a row twice.
	last := make(map[[2]string]int, len(ps))
	for i, p := range ps {
		last[[2]string{p.UserID, p.ID}] = i
	}
	var values strings.Builder
	args := []any{connectionID, seenAt}
	for i, p := range ps {
		if last[[2]string{p.UserID, p.ID}] != i {
			continue
		}
		if len(args) > 2 {
			values.WriteString(", ")
		}
		values.WriteString("($1")
		for range peopleColumns {
			args = append(args, nil)
			fmt.Fprintf(&values, ", $%d", len(args))
		}
		values.WriteString(", $2)")
		copy(args[len(args)-peopleColumns:], []any{CleanText(p.UserID), CleanText(p.ID), textOrNil(p.DisplayName),
			textOrNil(p.GivenName), textOrNil(p.Surname), textOrNil(p.JobTitle), textOrNil(p.CompanyName),
			textOrNil(p.Department), textOrNil(p.OfficeLocation), textOrNil(p.UserPrincipalName), textOrNil(p.PersonClass),
			textOrNil(p.PersonSubclass), jsonOrNil(p.ScoredEmailAddresses), jsonOrNil(p.Phones), p.RelevanceRank,
			CleanJSON(p.Raw)})
	}
	rows, err := tx.Query(ctx, `INSERT INTO people AS p (connection_id, user_id, id, display_name, given_name, surname, job_title,
			company_name, department, office_location, user_principal_name, person_class, person_subclass,
			scored_email_addresses, phones, relevance_rank, raw, seen_at)
		VALUES `+values.String()+`
		ON CONFLICT (connection_id, user_id, id) DO UPDATE SET display_name = EXCLUDED.display_name,
			given_name = EXCLUDED.given_name, surname = EXCLUDED.surname, job_title = EXCLUDED.job_title,
			company_name = EXCLUDED.company_name, department = EXCLUDED.department,
			office_location = EXCLUDED.office_location, user_principal_name = EXCLUDED.user_principal_name,
			person_class = EXCLUDED.person_class, person_subclass = EXCLUDED.person_subclass,
			scored_email_addresses = EXCLUDED.scored_email_addresses, phones = EXCLUDED.phones,
			relevance_rank = EXCLUDED.relevance_rank, raw = EXCLUDED.raw, seen_at = EXCLUDED.seen_at,
			deleted_at = NULL,
			synced_at = CASE WHEN p.raw IS DISTINCT FROM EXCLUDED.raw OR p.deleted_at IS NOT NULL
				OR p.relevance_rank IS DISTINCT FROM EXCLUDED.relevance_rank THEN now() ELSE p.synced_at END
		WHERE p.raw IS DISTINCT FROM EXCLUDED.raw OR p.deleted_at IS NOT NULL
			OR p.relevance_rank IS DISTINCT FROM EXCLUDED.relevance_rank OR p.seen_at IS DISTINCT FROM EXCLUDED.seen_at
		RETURNING p.synced_at = now()`, args...)
	if err != nil {
		return 0, fmt.Errorf("upsert people: %w", err)
	}
	changed, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return 0, fmt.Errorf("upsert people: %w", err)
	}
	var n int64
	for _, c := range changed {
		if c {
			n++
		}
	}
	return n, nil
}

// peopleColumns is how many values of a person UpsertPeopleTx binds.
const peopleColumns = 16

// RetireUnseenPeopleTx soft-deletes the people of a user that the round
// begun at since no longer listed.
func (s *Store) RetireUnseenPeopleTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE people SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $3)`,
		connectionID, CleanText(userID), since)
	if err != nil {
		return 0, fmt.Errorf("retire people no longer listed: %w", err)
	}
	return tag.RowsAffected(), nil
}

// jsonOrNil stores empty JSON as NULL.
func jsonOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return CleanJSON(b)
}
