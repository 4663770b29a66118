package emulator

import (
	"encoding/json"
	"fmt"
	"sync"
)

// acks records the rounds served over a collection and which of them a
// client completed, by reader (see reader): two clients reading the same
// mailbox (its owner, and a delegate syncing it as a shared mailbox) hold
// what each of their own rounds held. A client presents a round's deltaLink only once it
// holds the round's result; and since pages serve each entry as it is when
// the page is served (an entry deleted since the snapshot comes as
// removed), an entry is surely held when it was live at the round's
// snapshot and still live when the round's last page was last served.
type acks struct {
	mu     sync.Mutex
	rounds map[roundKey]*round
}

// roundKey names a round: who read it, and its snapshot version.
type roundKey struct {
	reader string
	snap   uint64
}

type round struct {
	end       uint64 // version when its last page was last served
	presented bool   // a client presented its deltaLink
}

// served notes that the last page of reader's round of snapshot snap was
// served at version now.
func (a *acks) served(reader string, snap, now uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rounds == nil {
		a.rounds = map[roundKey]*round{}
	}
	k := roundKey{reader, snap}
	r := a.rounds[k]
	if r == nil {
		r = &round{}
		a.rounds[k] = r
	}
	r.end = max(r.end, now)
}

// presented notes that reader presented the deltaLink of snapshot snap.
func (a *acks) presented(reader string, snap uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.rounds[roundKey{reader, snap}]; r != nil {
		r.presented = true
	}
}

// heldLive reports whether reader ("": any client) completed a round that
// held e live: one whose snapshot came after e's (re)creation and that
// ended before e's deletion.
func (a *acks) heldLive(e *entry, reader string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, r := range a.rounds {
		if (reader == "" || k.reader == reader) && r.presented && e.created <= k.snap && r.end < e.ver() {
			return true
		}
	}
	return false
}

// reader names who reads through a token, as DeletedTruth's reader takes
// it: the signed-in user's object id, or "app" for an application token.
func (t *accessClaims) reader() string {
	if t == nil {
		return ""
	}
	if t.app {
		return "app"
	}
	return t.oid
}

// DeletedTruth returns the objects of a user's resource that a client
// syncing with delta must hold as deleted: deleted (or moved out of their
// folder) after a delta round that held them live was completed: a round
// whose snapshot held them, whose last page was served before their
// deletion, and whose deltaLink a client presented. Each is rendered as it
// was last live, with default ids. Resources:
// mailFolders, messages (those of deleted folders included), events,
// driveItems, contactFolders, contacts. An object moved to another folder
// is in the truth too; callers keep only what is not. Any client's rounds
// count; the control plane's reader parameter keeps one reader's only.
func (em *Emulator) DeletedTruth(userID, resource string) ([]json.RawMessage, error) {
	return em.deletedTruth(userID, resource, false, "")
}

func (em *Emulator) deletedTruth(userID, resource string, imm bool, reader string) ([]json.RawMessage, error) {
	em.mu.RLock()
	defer em.mu.RUnlock()
	u := em.lookupUser(userID)
	if u == nil {
		return nil, fmt.Errorf("deleted truth: user %q not found", userID)
	}
	cols, ok := u.collections(resource, true) // deleted folders' included
	if !ok {
		return nil, fmt.Errorf("deleted truth: no deletions kept for resource %q", resource)
	}
	out := []json.RawMessage{}
	for _, c := range cols {
		if c == nil {
			continue
		}
		for _, e := range c.entries {
			if e.deleted && e.raw == nil && c.acks.heldLive(e, reader) {
				out = append(out, e.truth(imm))
			}
		}
	}
	return out, nil
}
