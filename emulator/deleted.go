package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// acks records the rounds a client completed over a collection: the
// snapshot versions of the deltaLinks it presented. A client presents a
// deltaLink only once it holds the round's result, so an entry live at one
// of these versions is one the client held.
type acks struct {
	mu   sync.Mutex
	vers []uint64 // sorted, distinct
}

func (a *acks) add(v uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, found := slices.BinarySearch(a.vers, v); !found {
		a.vers = slices.Insert(a.vers, i, v)
	}
}

// heldLive reports whether a round completed while e was live: at a
// version from its (re)creation up to its deletion.
func (a *acks) heldLive(e *entry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, _ := slices.BinarySearch(a.vers, e.created)
	return i < len(a.vers) && a.vers[i] < e.ver()
}

// DeletedTruth returns the objects of a user's resource that a client
// syncing with delta must hold as deleted: deleted (or moved out of their
// folder) after a delta round that listed them live was completed, that
// is, after a client presented a deltaLink from a round whose snapshot held
// them. Each is rendered as it was last live, with default ids. Resources:
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
