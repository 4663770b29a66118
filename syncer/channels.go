package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
)

// channelListContainer checkpoints the teams and channels lists (channel
// ids, the other streams' names, always hold a colon).
const channelListContainer = "list"

// syncChannels syncs a ChannelTree: the user's joined teams and their
// channels, read whole (neither has a delta), then each channel's
// messages through its delta.
func (r *run) syncChannels(ctx context.Context) error {
	teams, err := r.readTeams(ctx)
	if err != nil {
		return fmt.Errorf("sync channels: %w", err)
	}
	live, err := r.storeLists(ctx, channelListContainer, teams)
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
func (r *run) readTeams(ctx context.Context) ([]listed, error) {
	list, err := r.listAll(ctx, r.listLink())
	if err != nil {
		return nil, fmt.Errorf("list joined teams: %w", err)
	}
	var out []listed
	for _, item := range list {
		id, ok := graphsync.ID(item)
		if !ok || id == "" {
			// Stored through the quarantine by storeLists.
			out = append(out, listed{raw: item})
			continue
		}
		team, err := r.getObject(ctx, "/teams/"+url.PathEscape(id))
		if err == nil {
			var chans []json.RawMessage
			if chans, err = r.listAll(ctx, r.resource.Folders().Path("", id)); err == nil {
				out = append(out, listed{id: id, raw: team, children: chans})
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

// syncChannelMessages brings a channel's messages up to date through its
// delta. Each post comes with its replies, written as rows of their own;
// replies beyond those Graph inlines are read from the post's replies
// link. A channel gone since the lists were read is left to the next
// pass, whose lists retire it.
func (r *run) syncChannelMessages(ctx context.Context, team, channel string) error {
	t := r.resource.Items()
	st := r.stream(channel)
	d := r.tableStream(t, st, graphsync.ChannelMessagesDelta(team, channel), graphsync.Window{})
	prepare := d.prepare
	d.prepare = func(ctx context.Context, items []json.RawMessage) (writeFunc, error) {
		rows, err := r.withReplies(ctx, items)
		if err != nil {
			return nil, err
		}
		return prepare(ctx, rows)
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
