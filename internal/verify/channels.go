package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/jsonscan"
	"github.com/graphsync/graphsync/store"
)

// Channels compares a connection's live teams, channels and channel
// messages with one user's truth: the same teams and names, the same
// channels in the same teams, the same messages and replies (keyed by
// channel and id) with their lastModifiedDateTime, deletion state and
// body (their times among every column); nothing extra; and every column of every row (see rowCheck).
// Teams are stored once per connection, so the rows compared are the
// connection's, and the truth that of the connection's users: its user's
// for a delegated connection, every live user's for an application one.
func Channels(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	users, app, err := connectionUsers(ctx, pool, connectionID, userID)
	if err != nil {
		return nil, err
	}
	// Applications read every channel, the truth lists those a user sees:
	// private channels none of the users belongs to are an application's
	// own, and not compared.
	appOnly := map[string]bool{}
	var out []Result
	for _, k := range []struct {
		resource string
		table    *graphsync.Table
		// key and value name a truth object and what is compared of it
		key, value func(o channelTruth) string
		// query reads the stored key and value of the rows compared
		query   string
		scope   string
		context func(o channelTruth) graphsync.MapContext
	}{
		{"teams", graphsync.Channels.Outer(),
			func(o channelTruth) string { return o.ID },
			func(o channelTruth) string { return store.CleanText(o.DisplayName) },
			`SELECT id, coalesce(display_name, '') FROM teams WHERE connection_id = $1 AND deleted_at IS NULL`,
			"deleted_at IS NULL",
			func(channelTruth) graphsync.MapContext { return graphsync.MapContext{User: userID} }},
		{"channels", graphsync.Channels.Folders(),
			func(o channelTruth) string { return o.ID },
			func(o channelTruth) string { return o.TeamID + "|" + store.CleanText(o.DisplayName) },
			`SELECT id, coalesce(team_id, '') || '|' || coalesce(display_name, '') FROM channels WHERE connection_id = $1 AND deleted_at IS NULL`,
			"deleted_at IS NULL",
			func(o channelTruth) graphsync.MapContext {
				return graphsync.MapContext{User: userID, Container: o.TeamID}
			}},
		{"channelMessages", graphsync.Channels.Items(),
			func(o channelTruth) string { return o.ChannelIdentity.ChannelID + "/" + o.ID },
			func(o channelTruth) string {
				return fmt.Sprintf("%s|%t|%s", o.ReplyToID, o.Deleted != nil, store.CleanText(o.Body.Content))
			},
			`SELECT channel_id || '/' || id, coalesce(reply_to_id, '') || '|' || (raw->>'deletedDateTime' IS NOT NULL)::text || '|' ||
				coalesce(body_content, '')
				FROM channel_messages WHERE connection_id = $1 AND ` + liveChannelMessage,
			liveChannelMessage,
			func(o channelTruth) graphsync.MapContext {
				return graphsync.MapContext{User: userID, Container: o.ChannelIdentity.ChannelID}
			}},
	} {
		want := map[string]string{}
		var truth []json.RawMessage
		var objects []channelTruth
		for _, u := range users {
			raws, err := Truth(ctx, emulatorURL, u, k.resource)
			if err != nil {
				return nil, err
			}
			for _, raw := range raws {
				o, clean, err := decodeChannelTruth(raw)
				if err != nil {
					return nil, fmt.Errorf("decode ground truth of %s: %w", k.resource, err)
				}
				if _, dup := want[k.key(o)]; dup {
					continue // also another user's
				}
				truth, objects = append(truth, clean), append(objects, o)
				want[k.key(o)] = k.value(o)
			}
		}
		got, err := storedPairs(ctx, pool, k.query, connectionID)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k.table.Name, err)
		}
		if app && k.resource == "channels" {
			private, err := storedPairs(ctx, pool, `SELECT id, '' FROM channels WHERE connection_id = $1 AND membership_type = 'private'`, connectionID)
			if err != nil {
				return nil, fmt.Errorf("read channels: %w", err)
			}
			for id := range private {
				if _, seen := want[id]; !seen {
					appOnly[id] = true
				}
			}
		}
		for key := range got {
			if channel, _, _ := strings.Cut(key, "/"); appOnly[channel] {
				delete(got, key)
			}
		}
		r := compare(k.table.Name, connectionID, want, got)
		c := rowCheck{table: k.table, ignore: []string{"user_id"}, scope: k.scope + " AND $2::text IS NOT NULL",
			context: func(i int, _ json.RawMessage) graphsync.MapContext { return k.context(objects[i]) }}
		if err := r.deep(ctx, pool, emulatorURL, c, userID, "", truth, want, nil); err != nil {
			return nil, err
		}
		out = append(out, r.finish())
	}
	return out, nil
}

// liveChannelMessage selects the channel messages Microsoft 365 still
// has: live rows, and deleted messages, which Graph keeps with their
// deletedDateTime.
const liveChannelMessage = `(deleted_at IS NULL OR (raw->>'deletedDateTime' IS NOT NULL AND EXISTS (SELECT 1 FROM channels c
	WHERE c.connection_id = channel_messages.connection_id AND c.id = channel_messages.channel_id AND c.deleted_at IS NULL)
	AND deleted_at = (raw->>'deletedDateTime')::timestamptz))`

// channelTruth is what the comparison reads of a team, channel or
// channel message of the truth.
type channelTruth struct {
	ID              string  `json:"id"`
	DisplayName     string  `json:"displayName"`
	TeamID          string  `json:"@emulator.teamId"`
	ReplyToID       string  `json:"replyToId"`
	Deleted         *string `json:"deletedDateTime"`
	ChannelIdentity struct {
		ChannelID string `json:"channelId"`
	} `json:"channelIdentity"`
	Body struct {
		Content string `json:"content"`
	} `json:"body"`
}

// decodeChannelTruth reads a truth object and returns it without the
// emulator's own annotations (@emulator.*), as Graph serves it.
func decodeChannelTruth(raw json.RawMessage) (channelTruth, json.RawMessage, error) {
	var o channelTruth
	if err := json.Unmarshal(raw, &o); err != nil {
		return o, nil, err
	}
	return o, withoutEmulatorKeys(raw), nil
}

// withoutEmulatorKeys drops the emulator's @emulator.* annotations of a
// truth object.
func withoutEmulatorKeys(raw json.RawMessage) json.RawMessage {
	out := []byte{'{'}
	jsonscan.Members(raw, func(key, val []byte) bool {
		if strings.HasPrefix(string(key), `"@emulator.`) {
			return true
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, key...), ':'), val...)
		return true
	})
	return append(out, '}')
}

// storedPairs reads (key, value) rows of a query taking the connection.
func storedPairs(ctx context.Context, pool *pgxpool.Pool, query string, connectionID int64, args ...any) (map[string]string, error) {
	rows, err := pool.Query(ctx, query, append([]any{connectionID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		got[k] = v
	}
	return got, rows.Err()
}

// connectionUsers lists the users whose truth a connection's shared rows
// hold: userID for a delegated connection, the live users an application
// connection discovered.
func connectionUsers(ctx context.Context, pool *pgxpool.Pool, connectionID int64, userID string) (users []string, app bool, err error) {
	var kind string
	if err := pool.QueryRow(ctx, "SELECT kind FROM connections WHERE id = $1", connectionID).Scan(&kind); err != nil {
		return nil, false, fmt.Errorf("read connection %d: %w", connectionID, err)
	}
	if kind != store.KindApplication {
		return []string{userID}, false, nil
	}
	rows, err := pool.Query(ctx, "SELECT id FROM "+graphsync.Users.Items().Name+" WHERE connection_id = $1 AND deleted_at IS NULL ORDER BY id", connectionID)
	if err != nil {
		return nil, true, fmt.Errorf("read users of connection %d: %w", connectionID, err)
	}
	users, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return users, true, err
}
