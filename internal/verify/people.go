package verify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// People compares a user's live people rows with the truth: the same ids,
// display names, job titles and relevance ranks, and nothing extra; and
// every column of every row (see rowCheck).
func People(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	truth, err := Truth(ctx, emulatorURL, userID, "people")
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for i, raw := range truth {
		var o struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
			JobTitle    string `json:"jobTitle"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("decode ground truth of people: %w", err)
		}
		// A person graphsync cannot decode is quarantined, not stored; the
		// people after it keep their ranks.
		var typed struct {
			PersonType *struct{} `json:"personType"`
		}
		if json.Unmarshal(raw, &typed) != nil {
			continue
		}
		want[o.ID] = fmt.Sprintf("%s|%s|%d", store.CleanText(o.DisplayName), store.CleanText(o.JobTitle), i+1)
	}
	rows, err := pool.Query(ctx, `SELECT id, coalesce(display_name, ''), coalesce(job_title, ''), coalesce(relevance_rank, 0)
		FROM people WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read people: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, name, title string
		var rank int
		if err := rows.Scan(&id, &name, &title, &rank); err != nil {
			return nil, fmt.Errorf("read people: %w", err)
		}
		got[id] = fmt.Sprintf("%s|%s|%d", name, title, rank)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read people: %w", err)
	}
	r := compare("people", connectionID, want, got)
	c := rowCheck{table: graphsync.People.Items(), natural: []string{"display_name", "relevance_rank"},
		context: func(i int, _ json.RawMessage) graphsync.MapContext {
			return graphsync.MapContext{User: userID, Position: i + 1}
		}}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, "", truth, want, nil); err != nil {
		return nil, err
	}
	return []Result{r.finish()}, nil
}
