package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func init() { register("chats", syncChats) }

const (
	// chatListPageSize is the largest $top Graph accepts on chats.
	chatListPageSize = 50
	// chatListStream checkpoints the chat list itself (chat ids, the other
	// streams' names, always contain a colon).
	chatListStream = "list"
	// chatOverlap is how far before its watermark a chat's next listing
	// starts: messages sharing the watermark's timestamp, or stamped by a
	// server whose clock lags, are read again rather than lost. Upserts are
	// idempotent, so the overlap costs a few rows read, nothing written.
	chatOverlap = 5 * time.Minute
	// chatMaxStale bounds how long a chat goes without its messages being
	// listed. Microsoft documents lastUpdatedDateTime as moving when the chat
	// is renamed or its members change; in practice it moves with new
	// messages, but an edit or deletion of an old message may not move it.
	chatMaxStale = 24 * time.Hour
	// chatParallel is how many chats of one user sync at once; the Graph
	// client's Teams limiter paces them per tenant.
	chatParallel = 4
)

// chatMessagePageSize is the $top of message listings: 50 is the largest
// Graph accepts. Tests shrink it to cross page boundaries.
var chatMessagePageSize = 50

// chatMark is a chat's message position, stored as its stream's watermark.
type chatMark struct {
	// Modified is the latest lastModifiedDateTime stored once a listing
	// was read to its end; the next listing filters from it (less
	// chatOverlap).
	Modified time.Time `json:"modified"`
	// ChatUpdated is the chat's lastUpdatedDateTime that the messages are
	// synced up to; the messages are listed again once the chat's moves.
	ChatUpdated time.Time `json:"chatUpdated"`
	// Target is the chat's lastUpdatedDateTime when the listing in progress
	// started; it becomes ChatUpdated when the listing ends. Taking it
	// before the listing means a change made while it runs moves the chat
	// past it, so the next pass lists the chat again.
	Target time.Time `json:"target"`
}

func parseChatMark(s string) chatMark {
	var m chatMark
	if s != "" && json.Unmarshal([]byte(s), &m) != nil {
		// An unreadable position costs a full listing, nothing more.
		return chatMark{}
	}
	return m
}

// syncChats reads the user's whole chat list with members, then the
// messages of every chat that changed since its messages were last listed.
// Graph v1.0 has no chat message delta: messages are listed newest-modified
// first, filtered from a per-chat watermark.
func syncChats(ctx context.Context, r *run) error {
	chats, err := r.syncChatList(ctx)
	if err != nil {
		return err
	}
	keep := make([]string, len(chats), len(chats)+1)
	for i, c := range chats {
		keep[i] = c.ID
	}
	keep = append(keep, chatListStream)
	if err := r.dropStaleStreams(ctx, keep); err != nil {
		return err
	}
	var due []graphsync.Chat
	for _, c := range chats {
		st, err := r.state(ctx, r.stream(c.ID))
		if err != nil {
			return err
		}
		if st.LastSuccessAt == nil && st.Watermark == "" && st.NextLink == "" {
			st = nil // never listed
		}
		if chatDue(c, st, time.Now()) {
			due = append(due, c)
		}
	}

	sem := make(chan struct{}, chatParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, c := range due {
		mu.Lock()
		stop := len(errs) > 0
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(c graphsync.Chat) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.syncChatMessages(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	// A time budget reached by one chat is not a failure of the others.
	for _, err := range errs {
		if !errors.Is(err, errContinue) {
			return err
		}
	}
	return errContinue
}

// chatDue says whether a chat's messages must be listed: never listed, a
// listing in progress, the chat updated since, or not listed for
// chatMaxStale.
func chatDue(c graphsync.Chat, st *store.SyncState, now time.Time) bool {
	if st == nil || st.NextLink != "" || st.LastSuccessAt == nil {
		return true
	}
	m := parseChatMark(st.Watermark)
	switch {
	case m.ChatUpdated.IsZero(), c.LastUpdatedDateTime.IsZero():
		return true
	case c.LastUpdatedDateTime.After(m.ChatUpdated):
		return true
	}
	return now.Sub(*st.LastSuccessAt) > chatMaxStale
}

// syncChatList reads every page of the user's chats, then writes them in one
// transaction: the list has no delta, so chats missing from it have left the
// user's list and are retired. It returns the chats it stored.
func (r *run) syncChatList(ctx context.Context) ([]graphsync.Chat, error) {
	link := r.userPath() + "/chats?$expand=members&$top=" + strconv.Itoa(chatListPageSize)
	// The list is read whole before it is compared with what is stored; it
	// is a few pages at most, so the time budget is checked only after it.
	var items []json.RawMessage
	for {
		page, err := r.getPage(ctx, graphsync.ServiceTeams, link)
		if err != nil {
			return nil, fmt.Errorf("sync chats: list chats: %w", err)
		}
		pagesFetched.WithLabelValues(r.resource).Inc()
		items = append(items, page.Items...)
		if page.NextLink == "" {
			break
		}
		link = page.NextLink
	}

	st := r.stream(chatListStream)
	state, err := r.state(ctx, st)
	if err != nil {
		return nil, err
	}
	var chats []graphsync.Chat
	digest := listDigest(items)
	if digest == state.Watermark && state.LastSuccessAt != nil {
		// The same list as last time: nothing to write. Chats that could
		// not be decoded were quarantined then.
		entries, _ := foldPage(items)
		for _, e := range entries {
			if c, err := graphsync.DecodeChat(e.raw); err == nil {
				chats = append(chats, c)
			}
		}
		r.markIdle(store.Finish{Stream: st})
		return chats, nil
	}
	err = r.writePage(ctx, func(tx pgx.Tx) error {
		chats = chats[:0]
		entries, noID := foldPage(items)
		for _, raw := range noID {
			if err := r.quarantine(ctx, tx, st, "", noIDReason("chat", raw), raw); err != nil {
				return err
			}
		}
		var rows []store.Chat
		var keep []string
		for _, e := range entries {
			// A chat that cannot be decoded is still listed: keep its row.
			keep = append(keep, e.id)
			c, err := graphsync.DecodeChat(e.raw)
			if err != nil {
				if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
					return err
				}
				continue
			}
			chats = append(chats, c)
			rows = append(rows, chatRow(r.userID, c, e.raw))
		}
		n, err := r.svc.store.UpsertChatsTx(ctx, tx, r.conn.ID, rows)
		if err != nil {
			return err
		}
		gone, err := r.svc.store.RetireChatsTx(ctx, tx, r.conn.ID, r.userID, keep)
		if err != nil {
			return err
		}
		recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(n))
		recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(len(gone)))
		if err := r.svc.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
			return err
		}
		return r.svc.store.FinishRoundTx(ctx, tx, st, "", store.Progress{})
	})
	if err != nil {
		return nil, fmt.Errorf("sync chats: store chat list: %w", err)
	}
	return chats, nil
}

func chatRow(userID string, c graphsync.Chat, raw []byte) store.Chat {
	row := store.Chat{ID: c.ID, UserID: userID, Topic: c.Topic, ChatType: c.ChatType, CreatedAt: c.CreatedDateTime,
		LastUpdatedAt: c.LastUpdatedDateTime, WebURL: c.WebURL, TenantID: c.TenantID, Raw: raw}
	// Members come from the same object: re-encode each for its raw column.
	var full struct {
		Members []json.RawMessage `json:"members"`
	}
	_ = json.Unmarshal(raw, &full) // raw decoded as a Chat already
	for i, m := range c.Members {
		mr := store.ChatMember{ID: m.ID, UserID: m.UserID, DisplayName: m.DisplayName, Email: m.Email, Roles: m.Roles,
			TenantID: m.TenantID, VisibleHistoryStartAt: m.VisibleHistoryStartDateTime}
		if i < len(full.Members) {
			mr.Raw = full.Members[i]
		}
		if mr.ID == "" {
			// Membership ids are documented; fall back to the user so the row keeps a key.
			mr.ID = m.UserID
		}
		if mr.Raw == nil {
			mr.Raw = []byte("{}")
		}
		if mr.VisibleHistoryStartAt.Year() <= 1 {
			mr.VisibleHistoryStartAt = time.Time{} // 0001-01-01: the whole history
		}
		row.Members = append(row.Members, mr)
	}
	return row
}

// chatTime formats a filter bound as Graph writes its timestamps.
func chatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// syncChatMessages lists a chat's messages modified since its watermark
// (all of them the first time), newest first. The watermark advances only
// when a listing has been read to its end, since its first pages hold the
// newest messages; until then each page's nextLink is checkpointed with the
// page's rows, so a resumed job goes on where it stopped.
func (r *run) syncChatMessages(ctx context.Context, c graphsync.Chat) error {
	st := r.stream(c.ID)
	state, err := r.svc.store.SyncState(ctx, r.svc.store.Pool(), st)
	if err != nil {
		return err
	}
	mark := parseChatMark(state.Watermark)
	link := state.NextLink
	if link == "" {
		q := "$top=" + strconv.Itoa(chatMessagePageSize) + "&$orderby=lastModifiedDateTime%20desc"
		if !mark.Modified.IsZero() {
			// $filter applies only with $orderby on the same property, as
			// Microsoft documents; gt is one of the two operators it allows.
			q += "&$filter=lastModifiedDateTime%20gt%20" + chatTime(mark.Modified.Add(-chatOverlap))
		}
		link = r.userPath() + "/chats/" + url.PathEscape(c.ID) + "/messages?" + q
		mark.Target = c.LastUpdatedDateTime
		err := r.svc.store.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := r.svc.store.StartRoundTx(ctx, tx, st, mark.Modified.IsZero()); err != nil {
				return err
			}
			return r.svc.store.SetWatermarkTx(ctx, tx, st, encodeChatMark(mark))
		})
		if err != nil {
			return err
		}
	}
	for {
		page, err := r.getPage(ctx, graphsync.ServiceTeams, link)
		if graphsync.IsNotFound(err) {
			// The chat went away since the list was read; the next list
			// retires it.
			r.log.WarnContext(ctx, "chat not found; skipping its messages", "chat_id", c.ID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync chat %s messages: %w", c.ID, err)
		}
		err = r.writePage(ctx, func(tx pgx.Tx) error {
			p, err := r.applyChatMessages(ctx, tx, st, c.ID, page.Items)
			if err != nil {
				return err
			}
			p.Pages = 1
			if page.NextLink != "" {
				return r.svc.store.CheckpointTx(ctx, tx, st, page.NextLink, p)
			}
			stored, err := r.svc.store.ChatMessagesWatermark(ctx, tx, r.conn.ID, c.ID)
			if err != nil {
				return err
			}
			done := mark
			if stored.After(done.Modified) {
				done.Modified = stored
			}
			done.ChatUpdated, done.Target = done.Target, time.Time{}
			if err := r.svc.store.SetWatermarkTx(ctx, tx, st, encodeChatMark(done)); err != nil {
				return err
			}
			return r.svc.store.FinishRoundTx(ctx, tx, st, "", p)
		})
		if err != nil {
			return fmt.Errorf("sync chat %s messages: %w", c.ID, err)
		}
		pagesFetched.WithLabelValues(r.resource).Inc()
		if page.NextLink == "" {
			return nil
		}
		// Checked after a page, so every job moves each chat forward.
		if time.Now().After(r.deadline) {
			return errContinue
		}
		link = page.NextLink
	}
}

func encodeChatMark(m chatMark) string {
	b, _ := json.Marshal(m) // times and a struct: cannot fail
	return string(b)
}

func (r *run) applyChatMessages(ctx context.Context, tx pgx.Tx, st store.Stream, chatID string, items []json.RawMessage) (store.Progress, error) {
	var p store.Progress
	entries, noID := foldPage(items)
	for _, raw := range noID {
		if err := r.quarantine(ctx, tx, st, "", noIDReason("chat message", raw), raw); err != nil {
			return p, err
		}
	}
	rows := make([]store.ChatMessage, 0, len(entries))
	for _, e := range entries {
		m, err := graphsync.DecodeChatMessage(e.raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
				return p, err
			}
			continue
		}
		rows = append(rows, chatMessageRow(r.userID, chatID, &m, e.raw))
	}
	n, err := r.svc.store.UpsertChatMessagesTx(ctx, tx, r.conn.ID, chatID, rows)
	if err != nil {
		return p, err
	}
	p.Upserted = int(n)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(n))
	return p, nil
}

func chatMessageRow(userID, chatID string, m *graphsync.ChatMessage, raw []byte) store.ChatMessage {
	row := store.ChatMessage{ChatID: chatID, ID: m.ID, UserID: userID, MessageType: m.MessageType, Subject: m.Subject,
		Importance: m.Importance, ReplyToID: m.ReplyToID, CreatedAt: m.CreatedDateTime, LastModifiedAt: m.LastModifiedDateTime,
		Raw: raw}
	if m.LastEditedDateTime != nil {
		row.LastEditedAt = *m.LastEditedDateTime
	}
	if m.DeletedDateTime != nil {
		row.DeletedAt = *m.DeletedDateTime
	}
	if m.From != nil {
		switch {
		case m.From.User != nil:
			row.SenderUserID, row.SenderName = m.From.User.ID, m.From.User.DisplayName
		case m.From.Application != nil:
			row.SenderName = m.From.Application.DisplayName
		}
	}
	if m.Body != nil {
		row.BodyContentType, row.BodyContent = strings.ToLower(m.Body.ContentType), m.Body.Content
	}
	if m.Mentions != nil {
		row.Mentions, _ = json.Marshal(m.Mentions) // raw messages re-encode as they came
	}
	if m.Attachments != nil {
		row.Attachments, _ = json.Marshal(m.Attachments)
	}
	return row
}
