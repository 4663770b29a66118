package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

const (
	// chatListContainer checkpoints the chat list itself (chat ids, the
	// other streams' names, always contain a colon).
	chatListContainer = "list"
	// chatOverlap is how far before its watermark a chat's next listing
	// starts: messages sharing the watermark's timestamp, or stamped by a
	// server whose clock lags, are read again rather than lost. Upserts are
	// idempotent, so the overlap costs a few rows read, nothing written.
	chatOverlap = 5 * time.Minute
)

// chatMark is a chat's message position, stored as its stream's watermark.
type chatMark struct {
	// Modified is the latest lastModifiedDateTime stored once a listing
	// was read to its end; the next listing filters from it (less
	// chatOverlap).
	Modified time.Time `json:"modified"`
	// Newest is the id of the chat's newest message (its
	// lastMessagePreview) that the messages are synced up to; the messages
	// are listed again once another message is the newest.
	Newest string `json:"newest,omitempty"`
	// Pending is the newest message's id when the listing in progress
	// started; it becomes Newest when the listing ends. Taking it before
	// the listing means a message posted while it runs makes the chat due
	// again on the next pass.
	Pending string `json:"pending,omitempty"`
	// Listed is when the last listing ended, by the engine's clock.
	Listed time.Time `json:"listed"`
}

func parseChatMark(s string) chatMark {
	var m chatMark
	if s != "" && json.Unmarshal([]byte(s), &m) != nil {
		// An unreadable position costs a full listing, nothing more.
		return chatMark{}
	}
	return m
}

func encodeChatMark(m chatMark) string {
	b, _ := json.Marshal(m) // times and a struct: cannot fail
	return string(b)
}

// syncChats syncs a ChatList: the user's whole chat list with members,
// then the messages of every chat that changed since its messages were
// last listed. Graph v1.0 has no chat message delta: messages are listed
// newest-modified first, filtered from a per-chat watermark.
func (r *run) syncChats(ctx context.Context) error {
	chats, err := r.syncChatList(ctx)
	if err != nil {
		return err
	}
	keep := make([]string, len(chats), len(chats)+1)
	for i, c := range chats {
		keep[i] = c.ID
	}
	keep = append(keep, chatListContainer)
	if err := r.dropStaleStreams(ctx, keep); err != nil {
		return err
	}
	var due []string
	byID := make(map[string]graphsync.Chat, len(chats))
	now := r.eng.cfg.Now()
	for _, c := range chats {
		st, err := r.state(ctx, r.stream(c.ID))
		if err != nil {
			return err
		}
		if r.chatDue(c, st, now) {
			due = append(due, c.ID)
			byID[c.ID] = c
		}
	}
	return eachParallel(ctx, due, r.resource.Parallel(), func(ctx context.Context, id string) error {
		return r.syncChatMessages(ctx, byID[id])
	})
}

// chatDue says whether a chat's messages must be listed: a thorough sync,
// never listed, a listing in progress, a new newest message
// (lastMessagePreview), or not listed for EditCheck. Edits and deletions of older messages move no
// preview; only the listing from the watermark finds them, so EditCheck
// bounds how late they can be (Microsoft documents the chat's
// lastUpdatedDateTime as moving only when it is renamed or its members
// change, so it tells nothing of messages).
func (r *run) chatDue(c graphsync.Chat, st *store.SyncState, now time.Time) bool {
	if r.req.Thorough || st.NextLink != "" || st.LastSuccessAt == nil {
		return true
	}
	m := parseChatMark(st.Watermark)
	newest := ""
	if c.LastMessagePreview != nil {
		newest = c.LastMessagePreview.ID
	}
	return newest != m.Newest || now.Sub(m.Listed) >= r.eng.cfg.EditCheck
}

// syncChatList reads every page of the user's chats, then writes them in
// one transaction: the list has no delta, so chats missing from it have
// left the user's list and are retired. It returns the chats it stored.
func (r *run) syncChatList(ctx context.Context) ([]graphsync.Chat, error) {
	t := r.resource.Folders()
	link := r.listLink()
	// The list is read whole before it is compared with what is stored; it
	// is a few pages at most, so the time budget is checked only after it.
	items, err := r.listAll(ctx, link)
	if err != nil {
		return nil, fmt.Errorf("sync chats: list chats: %w", err)
	}

	st := r.stream(chatListContainer)
	state, err := r.state(ctx, st)
	if err != nil {
		return nil, err
	}
	var chats []graphsync.Chat
	stored := make([]json.RawMessage, len(items))
	for i, it := range items {
		stored[i] = graphsync.StoredChat(it)
	}
	digest := listDigest(stored)
	if digest == state.Watermark && state.LastSuccessAt != nil {
		// The same list as last time: nothing to write. Chats that could
		// not be decoded were quarantined then.
		entries, _ := foldPage(t, items)
		for _, e := range entries {
			if c, err := graphsync.DecodeChat(e.raw); err == nil {
				chats = append(chats, c)
			}
		}
		r.markIdle(store.Finish{Stream: st})
		return chats, nil
	}
	err = r.writePage(ctx, func(tx store.Tx) error {
		chats = chats[:0]
		entries, noID := foldPage(t, items)
		for _, raw := range noID {
			if err := r.quarantine(ctx, tx, st, "", noIDReason(t.Item, raw), raw); err != nil {
				return err
			}
		}
		var rows []graphsync.Row
		var keep []string
		for _, e := range entries {
			// A chat that cannot be decoded is still listed: keep its row.
			keep = append(keep, e.id)
			c, err := graphsync.DecodeChat(e.raw)
			if err == nil {
				var row graphsync.Row
				if row, err = t.Map(e.raw, graphsync.MapContext{User: r.req.User}); err == nil {
					chats = append(chats, c)
					rows = append(rows, row)
					continue
				}
			}
			if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
				return err
			}
		}
		n, err := r.eng.store.UpsertTx(ctx, tx, t, r.req.Conn.ID, rows, nil)
		if err != nil {
			return err
		}
		gone, err := r.eng.store.RetireMissingTx(ctx, tx, t, r.req.Conn.ID, r.req.User, keep)
		if err != nil {
			return err
		}
		r.count("upserted", int64(n))
		r.count("deleted", int64(len(gone)))
		if err := r.eng.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
			return err
		}
		return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: st})
	})
	if err != nil {
		return nil, fmt.Errorf("sync chats: store chat list: %w", err)
	}
	return chats, nil
}

// chatTime formats a filter bound as Graph writes its timestamps.
func chatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// syncChatMessages lists a chat's messages modified since its watermark
// (all of them the first time), newest first. The watermark advances only
// when a listing has been read to its end, since its first pages hold the
// newest messages; until then each page's nextLink is checkpointed with the
// page's rows, so a resumed job goes on where it stopped.
func (r *run) syncChatMessages(ctx context.Context, c graphsync.Chat) error {
	t := r.resource.Items()
	st := r.stream(c.ID)
	state, err := r.eng.store.SyncState(ctx, st)
	if err != nil {
		return err
	}
	mark := parseChatMark(state.Watermark)
	link := state.NextLink
	if link != "" {
		if cerr := r.eng.graph.CheckLink(link); cerr != nil {
			// Refused for ever if kept: start the listing over.
			if err := r.dropStoredLink(ctx, st, true, cerr); err != nil {
				return err
			}
			link = ""
		}
	}
	if link == "" {
		q := "$top=" + strconv.Itoa(r.eng.cfg.ChatPageSize) + "&$orderby=lastModifiedDateTime%20desc"
		if !mark.Modified.IsZero() {
			// $filter applies only with $orderby on the same property, as
			// Microsoft documents; gt is one of the two operators it allows.
			q += "&$filter=lastModifiedDateTime%20gt%20" + chatTime(mark.Modified.Add(-chatOverlap))
		}
		link = t.Path(r.userPath(), c.ID) + "?" + q
		mark.Pending = ""
		if c.LastMessagePreview != nil {
			mark.Pending = c.LastMessagePreview.ID
		}
		err := r.eng.store.InTx(ctx, func(tx store.Tx) error {
			if _, err := r.eng.store.StartRoundTx(ctx, tx, st, mark.Modified.IsZero()); err != nil {
				return err
			}
			return r.eng.store.SetWatermarkTx(ctx, tx, st, encodeChatMark(mark))
		})
		if err != nil {
			return err
		}
	}
	guard := r.pager(link)
	for {
		page, err := r.getPage(ctx, link, pageOpts{})
		if graph.IsNotFound(err) {
			// The chat went away since the list was read; the next list
			// retires it.
			r.log.WarnContext(ctx, "chat not found; skipping its messages", "chat_id", c.ID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync chat %s messages: %w", c.ID, err)
		}
		if err := guard.check(page); err != nil {
			return fmt.Errorf("sync chat %s messages: %w", c.ID, r.restartRound(ctx, st, err))
		}
		err = r.writePage(ctx, func(tx store.Tx) error {
			p, err := r.applyChatMessages(ctx, tx, st, page.Items)
			if err != nil {
				return err
			}
			p.Pages = 1
			if page.NextLink != "" {
				return r.eng.store.CheckpointTx(ctx, tx, st, page.NextLink, p)
			}
			stored, err := r.eng.store.LatestModifiedTx(ctx, tx, t, st)
			if err != nil {
				return err
			}
			done := mark
			if stored.After(done.Modified) {
				done.Modified = stored
			}
			done.Newest, done.Pending, done.Listed = done.Pending, "", r.eng.cfg.Now()
			if err := r.eng.store.SetWatermarkTx(ctx, tx, st, encodeChatMark(done)); err != nil {
				return err
			}
			return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: st, Progress: p})
		})
		if err != nil {
			return fmt.Errorf("sync chat %s messages: %w", c.ID, err)
		}
		r.pageStored()
		if page.NextLink == "" {
			return nil
		}
		// Checked after a page, so every job moves each chat forward.
		if r.pastDeadline() {
			return errContinue
		}
		link = page.NextLink
	}
}

// applyChatMessages writes one page of a chat's messages; a deleted
// message keeps its row, with deleted_at from its deletedDateTime.
func (r *run) applyChatMessages(ctx context.Context, tx store.Tx, st graphsync.Stream, items []json.RawMessage) (store.Progress, error) {
	t := r.resource.Items()
	entries, noID := foldPage(t, items)
	for _, raw := range noID {
		if err := r.quarantine(ctx, tx, st, "", noIDReason(t.Item, raw), raw); err != nil {
			return store.Progress{}, err
		}
	}
	rows := make([]graphsync.Row, 0, len(entries))
	mc := graphsync.MapContext{User: r.req.User, Container: st.Container}
	for _, e := range entries {
		row, err := t.Map(e.raw, mc)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
				return store.Progress{}, err
			}
			continue
		}
		rows = append(rows, row)
	}
	n, err := r.eng.store.UpsertTx(ctx, tx, t, r.req.Conn.ID, rows, nil)
	if err != nil {
		return store.Progress{}, err
	}
	r.count("upserted", int64(n))
	return store.Progress{Upserted: int(n)}, nil
}

// listAll reads every page of a list that has no delta.
func (r *run) listAll(ctx context.Context, link string) ([]json.RawMessage, error) {
	var items []json.RawMessage
	guard := r.pager(link)
	for {
		page, err := r.getPage(ctx, link, pageOpts{})
		if err != nil {
			return nil, err
		}
		if err := guard.check(page); err != nil {
			return nil, err
		}
		r.pageStored()
		items = append(items, page.Items...)
		if page.NextLink == "" {
			return items, nil
		}
		link = page.NextLink
	}
}
