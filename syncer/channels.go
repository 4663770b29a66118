package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// channelListContainer checkpoints the teams and channels lists (channel
// ids, the other streams' names, always hold a colon).
const channelListContainer = "list"

// teamChannels is what the lists say of one team: the team as GET serves
// it and its channels.
type teamChannels struct {
	id       string
	team     json.RawMessage
	channels []json.RawMessage
}

// syncChannels syncs a ChannelTree: the user's joined teams and their
// channels, read whole (neither has a delta), then each channel's
// messages through its delta.
func (r *run) syncChannels(ctx context.Context) error {
	teams, err := r.readTeams(ctx)
	if err != nil {
		return fmt.Errorf("sync channels: %w", err)
	}
	live, err := r.storeTeams(ctx, teams)
	if err != nil {
		return fmt.Errorf("sync channels: %w", err)
	}
	keep := []string{channelListContainer}
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	keep = append(keep, ids...)
	if err := r.dropStaleStreams(ctx, keep); err != nil {
		return err
	}
	return eachParallel(ctx, ids, r.resource.Parallel(), func(ctx context.Context, id string) error {
		return r.syncChannelMessages(ctx, live[id], id)
	})
}

// readTeams reads the user's joined teams, each team whole, and each
// team's channels. A team gone or closed to the user between the list and
// its reading is left out, so its rows are retired.
func (r *run) readTeams(ctx context.Context) ([]teamChannels, error) {
	list, err := r.listAll(ctx, r.resource.Outer().Path(r.userPath(), ""))
	if err != nil {
		return nil, fmt.Errorf("list joined teams: %w", err)
	}
	var out []teamChannels
	for _, item := range list {
		id, ok := graphsync.ID(item)
		if !ok || id == "" {
			// Stored through the quarantine by storeTeams.
			out = append(out, teamChannels{team: item})
			continue
		}
		team, err := r.getObject(ctx, "/teams/"+url.PathEscape(id))
		if err == nil {
			var chans []json.RawMessage
			if chans, err = r.listAll(ctx, r.resource.Folders().Path("", id)); err == nil {
				out = append(out, teamChannels{id: id, team: team, channels: chans})
				continue
			}
		}
		if graph.IsNotFound(err) || graph.IsForbidden(err) {
			r.log.InfoContext(ctx, "team no longer readable; leaving it out", "team_id", id, "error", err)
			continue
		}
		return nil, fmt.Errorf("read team %s: %w", id, err)
	}
	return out, nil
}

// storeTeams writes the teams and their channels in one transaction,
// retiring those no longer listed (with their channels' messages), and
// returns the team of every live channel. The same lists as last time
// write nothing.
func (r *run) storeTeams(ctx context.Context, teams []teamChannels) (map[string]string, error) {
	tt, ct := r.resource.Outer(), r.resource.Folders()
	st := r.stream(channelListContainer)
	var all []json.RawMessage
	for _, tc := range teams {
		all = append(append(all, tc.team), tc.channels...)
	}
	digest := listDigest(all)
	state, err := r.state(ctx, st)
	if err != nil {
		return nil, err
	}
	idle := digest == state.Watermark && state.LastSuccessAt != nil
	live := map[string]string{}
	var teamRows, chanRows []graphsync.Row
	var teamIDs, chanIDs []string
	var bad []func(tx store.Tx) error
	quarantine := func(t *graphsync.Table, id string, err error, raw []byte) {
		bad = append(bad, func(tx store.Tx) error { return r.quarantine(ctx, tx, st, id, err, raw) })
	}
	for _, tc := range teams {
		if tc.id == "" {
			quarantine(tt, "", noIDReason(tt.Item, tc.team), tc.team)
			continue
		}
		// A team that cannot be mapped is still listed: keep its rows.
		teamIDs = append(teamIDs, tc.id)
		row, err := tt.Map(tc.team, graphsync.MapContext{User: r.req.User})
		if err != nil {
			quarantine(tt, tc.id, err, tc.team)
		} else {
			teamRows = append(teamRows, row)
		}
		entries, noID := foldPage(ct, tc.channels)
		for _, raw := range noID {
			quarantine(ct, "", noIDReason(ct.Item, raw), raw)
		}
		for _, e := range entries {
			chanIDs = append(chanIDs, e.id)
			live[e.id] = tc.id
			row, err := ct.Map(e.raw, graphsync.MapContext{User: r.req.User, Container: tc.id})
			if err != nil {
				quarantine(ct, e.id, err, e.raw)
				continue
			}
			chanRows = append(chanRows, row)
		}
	}
	if idle {
		// Records that could not be stored were quarantined last time.
		r.markIdle(store.Finish{Stream: st})
		return live, nil
	}
	err = r.writePage(ctx, func(tx store.Tx) error {
		for _, q := range bad {
			if err := q(tx); err != nil {
				return err
			}
		}
		for _, w := range []struct {
			t    *graphsync.Table
			rows []graphsync.Row
			keep []string
		}{{tt, teamRows, teamIDs}, {ct, chanRows, chanIDs}} {
			n, err := r.eng.store.UpsertTx(ctx, tx, w.t, r.req.Conn.ID, w.rows, nil)
			if err != nil {
				return err
			}
			gone, err := r.eng.store.RetireMissingTx(ctx, tx, w.t, r.req.Conn.ID, r.req.User, w.keep)
			if err != nil {
				return err
			}
			r.count("upserted", n)
			r.count("deleted", int64(len(gone)))
		}
		if err := r.eng.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
			return err
		}
		return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: st})
	})
	if err != nil {
		return nil, fmt.Errorf("store teams and channels: %w", err)
	}
	return live, nil
}

// syncChannelMessages brings a channel's messages up to date through its
// delta. Each post comes with its replies, written as rows of their own;
// replies beyond those Graph inlines are read from the post's replies
// link. A channel gone since the lists were read is left to the next
// pass, whose lists retire it.
func (r *run) syncChannelMessages(ctx context.Context, team, channel string) error {
	t := r.resource.Items()
	st := r.stream(channel)
	d := r.tableStream(t, st, graphsync.ChannelMessagesDelta(team, channel), graphsync.Window{})
	d.apply = func(ctx context.Context, tx store.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
		rows, err := r.withReplies(ctx, items)
		if err != nil {
			return store.Progress{}, err
		}
		return r.applyPage(ctx, tx, t, st, rows, seen, graphsync.Window{})
	}
	err := r.runDelta(ctx, d)
	if graph.IsNotFound(err) {
		r.log.WarnContext(ctx, "channel not found; skipping its messages", "channel_id", channel)
		return nil
	}
	return err
}

// withReplies turns a delta page's posts into the posts as stored followed
// by their replies.
func (r *run) withReplies(ctx context.Context, items []json.RawMessage) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(items))
	for _, item := range items {
		post, replies, more := graphsync.SplitPost(item)
		out = append(append(out, post), replies...)
		for more != "" {
			page, err := r.getPage(ctx, more, pageOpts{})
			if err != nil {
				return nil, fmt.Errorf("read replies beyond those inlined: %w", err)
			}
			out = append(out, page.Items...)
			more = page.NextLink
		}
	}
	return out, nil
}
