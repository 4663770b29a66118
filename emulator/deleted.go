package emulator

import (
	"encoding/json"
	"fmt"
	"sync"
)

// acks records the rounds served over a collection and which of them a
// client completed. A client presents a round's deltaLink only once it
// holds the round's result; and since pages serve each entry as it is when
// the page is served (an entry deleted since the snapshot comes as
// removed), an entry is surely held when it was live at the round's
// snapshot and still live when the round's last page was last served.
type acks struct {
	mu     sync.Mutex
	rounds map[uint64]*round // by snapshot version
}

type round struct {
	end       uint64 // version when its last page was last served
	presented bool   // a client presented its deltaLink
}

// served notes that the last page of the round of snapshot snap was
// served at version now.
func (a *acks) served(snap, now uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rounds == nil {
		a.rounds = map[uint64]*round{}
	}
	r := a.rounds[snap]
	if r == nil {
		r = &round{}
		a.rounds[snap] = r
	}
	r.end = max(r.end, now)
}

// presented notes that a client presented the deltaLink of snapshot snap.
func (a *acks) presented(snap uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.rounds[snap]; r != nil {
		r.presented = true
	}
}

// heldLive reports whether a client completed a round that held e live:
// one whose snapshot came after e's (re)creation and that ended before e's
// deletion.
func (a *acks) heldLive(e *entry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for snap, r := range a.rounds {
		if r.presented && e.created <= snap && r.end < e.ver() {
			return true
		}
	}
	return false
}

// DeletedTruth returns the objects of a user's resource that a client
// syncing with delta must hold as deleted: deleted (or moved out of their
// folder) after a delta round that held them live was completed: a round
// whose snapshot held them, whose last page was served before their
// deletion, and whose deltaLink a client presented. Each is rendered as it
// was last live, with default ids. Resources:
// mailFolders, messages (those of deleted folders included), events,
// driveItems, contactFolders, contacts. An object moved to another folder
// is in the truth too; callers keep only what is not.
func (em *Emulator) DeletedTruth(userID, resource string) ([]json.RawMessage, error) {
	return em.deletedTruth(userID, resource, false)
}

func (em *Emulator) deletedTruth(userID, resource string, imm bool) ([]json.RawMessage, error) {
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
			if e.deleted && e.raw == nil && c.acks.heldLive(e) {
				out = append(out, e.truth(imm))
			}
		}
	}
	return out, nil
}
