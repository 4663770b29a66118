package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// peoplePageSize is the $top of each People request. Graph documents $top
// and $skip for paging but neither a default nor a maximum page size; pages
// of 100 keep requests few without relying on larger pages being accepted.
const peoplePageSize = 100

func init() { register("people", syncPeople) }

// syncPeople reads the user's relevance-ordered People list. The API has no
// delta, so every round is a full snapshot: each page's people are written
// with their rank and marked seen, the next page's URL is checkpointed with
// them, and the last page retires whoever the round did not list.
func syncPeople(ctx context.Context, r *run) error {
	st := r.stream("people")
	state, err := r.state(ctx, st)
	if err != nil {
		return err
	}
	link := state.NextLink
	var since time.Time
	if state.RoundStartedAt != nil {
		since = *state.RoundStartedAt
	}
	// A new round is recorded once its first page shows it has something
	// to write.
	start := link == "" || since.IsZero()
	if start {
		link = r.userPath() + "/people?$top=" + strconv.Itoa(peoplePageSize)
	}
	// Every job writes at least one page, so that a short time budget still
	// makes progress.
	for first := true; ; first = false {
		if !first && time.Now().After(r.deadline) {
			return errContinue
		}
		page, err := r.getPage(ctx, graphsync.ServiceOutlook, link)
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		offset, err := peopleOffset(link)
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		next := nextPeopleLink(link, page, offset)
		// A list that fits one page and equals the last one is recorded as
		// seen without writing it again.
		digest := ""
		if offset == 0 && next == "" {
			digest = listDigest(page.Items)
			if digest == state.Watermark && state.LastSuccessAt != nil {
				r.markIdle(store.Finish{Stream: st, Progress: store.Progress{Pages: 1}})
				pagesFetched.WithLabelValues(r.resource).Inc()
				return nil
			}
		}
		if start {
			if since, err = r.svc.store.StartRoundTx(ctx, r.svc.store.Pool(), st, true); err != nil {
				return err
			}
			start = false
		}
		err = r.writePage(ctx, func(tx pgx.Tx) error {
			p, err := r.applyPeople(ctx, tx, st, page.Items, offset, since)
			if err != nil {
				return err
			}
			p.Pages = 1
			if next != "" {
				return r.svc.store.CheckpointTx(ctx, tx, st, next, p)
			}
			n, err := r.svc.store.RetireUnseenPeopleTx(ctx, tx, r.conn.ID, r.userID, since)
			if err != nil {
				return err
			}
			p.Deleted = int(n)
			recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(n))
			if err := r.svc.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
				return err
			}
			return r.svc.store.FinishRoundTx(ctx, tx, st, "", p)
		})
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		pagesFetched.WithLabelValues(r.resource).Inc()
		if next == "" {
			return nil
		}
		link = next
	}
}

// peopleOffset is the $skip of a People request: the rank before its first
// person.
func peopleOffset(link string) (int, error) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, fmt.Errorf("people link %s: %w", linkPath(link), err)
	}
	q := u.Query()
	v := q.Get("$skip")
	if v == "" {
		v = q.Get("skip")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("people link %s: $skip %q is not a count", linkPath(link), v)
	}
	return n, nil
}

// nextPeopleLink is Graph's nextLink when it sends one. Otherwise a full
// page means there may be more, asked for with $skip; a short page ends the
// list.
func nextPeopleLink(link string, page *graphsync.Page, offset int) string {
	if page.NextLink != "" {
		return page.NextLink
	}
	if len(page.Items) < peoplePageSize {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Del("skip")
	q.Set("$skip", strconv.Itoa(offset+len(page.Items)))
	if q.Get("$top") == "" && q.Get("top") == "" {
		q.Set("$top", strconv.Itoa(peoplePageSize))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// applyPeople writes one page of the list; a person's rank is its position
// in the whole list, from 1.
func (r *run) applyPeople(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, offset int, seen time.Time) (store.Progress, error) {
	var p store.Progress
	rows := make([]store.Person, 0, len(items))
	for i, raw := range items {
		g, err := graphsync.DecodePerson(raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, g.ID, err, raw); err != nil {
				return p, err
			}
			continue
		}
		row := store.Person{ID: g.ID, UserID: r.userID, DisplayName: g.DisplayName, GivenName: g.GivenName,
			Surname: g.Surname, JobTitle: g.JobTitle, CompanyName: g.CompanyName, Department: g.Department,
			OfficeLocation: g.OfficeLocation, UserPrincipalName: g.UserPrincipalName,
			RelevanceRank: int32(offset + i + 1), Raw: raw}
		if g.PersonType != nil {
			row.PersonClass, row.PersonSubclass = g.PersonType.Class, g.PersonType.Subclass
		}
		f := rawFields(raw, "scoredEmailAddresses", "phones")
		row.ScoredEmailAddresses, row.Phones = f[0], f[1]
		rows = append(rows, row)
	}
	u, err := r.svc.store.UpsertPeopleTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	p.Upserted = int(u)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(u))
	return p, nil
}

// rawFields returns properties of a JSON object as Graph sent them, nil
// when absent or null.
func rawFields(raw []byte, keys ...string) [][]byte {
	out := make([][]byte, len(keys))
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for i, k := range keys {
		if v := m[k]; len(v) > 0 && string(v) != "null" {
			out[i] = v
		}
	}
	return out
}
