package emulator

import (
	"fmt"
	"sort"
	"strings"
)

// Shared and delegated mailboxes (learn.microsoft.com/graph/outlook-share-messages-folders,
// outlook-get-shared-contacts-folders, outlook-get-shared-events-calendars):
// a user reads another's Outlook data with a delegated token when the owner
// shared it with them and the token carries the matching *.Shared
// permission; otherwise Outlook answers 403 ErrorAccessDenied.

// MailboxShare is an owner's grant of their mailbox to another user of the
// tenant, as Outlook delegation or full mailbox access gives it: which
// parts the delegate may read.
type MailboxShare struct {
	Owner    string `json:"owner"`    // user id or UPN
	Delegate string `json:"delegate"` // user id or UPN
	Mail     bool   `json:"mail"`
	Calendar bool   `json:"calendar"`
	Contacts bool   `json:"contacts"`
}

// ShareMailbox records a share, replacing any earlier one between the two
// users; from the next request on, the delegate's tokens with the *.Shared
// permissions read what it names.
func (em *Emulator) ShareMailbox(s MailboxShare) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	owner, delegate := em.lookupUser(s.Owner), em.lookupUser(s.Delegate)
	switch {
	case owner == nil:
		return fmt.Errorf("share mailbox: owner %q not found", s.Owner)
	case delegate == nil:
		return fmt.Errorf("share mailbox: delegate %q not found", s.Delegate)
	case owner == delegate:
		return fmt.Errorf("share mailbox: %q cannot share a mailbox with themselves", s.Owner)
	case !s.Mail && !s.Calendar && !s.Contacts:
		return fmt.Errorf("share mailbox: the share names neither mail, calendar nor contacts")
	}
	s.Owner, s.Delegate = owner.id, delegate.id
	if em.shares == nil {
		em.shares = map[[2]string]MailboxShare{}
	}
	em.shares[[2]string{owner.id, delegate.id}] = s
	return nil
}

// UnshareMailbox withdraws a share: the delegate's next request for the
// owner's data answers 403 ErrorAccessDenied, whatever token it carries.
func (em *Emulator) UnshareMailbox(ownerID, delegateID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	owner, delegate := em.lookupUser(ownerID), em.lookupUser(delegateID)
	if owner == nil || delegate == nil {
		return fmt.Errorf("unshare mailbox: user %q or %q not found", ownerID, delegateID)
	}
	k := [2]string{owner.id, delegate.id}
	if _, ok := em.shares[k]; !ok {
		return fmt.Errorf("unshare mailbox: %q has not shared a mailbox with %q", ownerID, delegateID)
	}
	delete(em.shares, k)
	return nil
}

// MailboxShares lists the shares, by owner then delegate.
func (em *Emulator) MailboxShares() []MailboxShare {
	em.mu.RLock()
	defer em.mu.RUnlock()
	out := make([]MailboxShare, 0, len(em.shares))
	for _, s := range em.shares {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Owner < out[j].Owner || (out[i].Owner == out[j].Owner && out[i].Delegate < out[j].Delegate)
	})
	return out
}

// genShares applies Config.SharedMailboxes: user i shares mail and
// calendar with user i+1 (the last with the first).
func (em *Emulator) genShares() {
	n := len(em.users)
	for i := 0; i < em.cfg.SharedMailboxes; i++ {
		owner, delegate := em.users[i], em.users[(i+1)%n]
		if em.shares == nil {
			em.shares = map[[2]string]MailboxShare{}
		}
		em.shares[[2]string{owner.id, delegate.id}] = MailboxShare{Owner: owner.id, Delegate: delegate.id, Mail: true, Calendar: true}
	}
}

// outlookArea names the part of a mailbox an Outlook route reads.
func outlookArea(pattern string) string {
	switch {
	case strings.Contains(pattern, "calendarView"), strings.Contains(pattern, "/events"):
		return "calendar"
	case strings.Contains(pattern, "contact"):
		return "contacts"
	case strings.Contains(pattern, "people"):
		return "people"
	}
	return "mail"
}

// sharedAccess reports whether a delegated token may read another user's
// Outlook data through route rt: the owner shared that part with the
// token's user and the token holds the part's *.Shared permission. People
// are read with People.Read.All instead (api/user-list-people).
func (c *call) sharedAccess(rt route) bool {
	have := c.tok.scp
	area := outlookArea(rt.pattern)
	if area == "people" {
		return hasFold(have, "People.Read.All")
	}
	perm := map[string][]string{"mail": {"Mail.Read.Shared", "Mail.ReadWrite.Shared"},
		"calendar": {"Calendars.Read.Shared", "Calendars.ReadWrite.Shared"},
		"contacts": {"Contacts.Read.Shared", "Contacts.ReadWrite.Shared"}}[area]
	if !hasFold(have, perm[0]) && !hasFold(have, perm[1]) {
		return false
	}
	c.em.mu.RLock()
	s, ok := c.em.shares[[2]string{c.user.id, c.tok.oid}]
	c.em.mu.RUnlock()
	switch area {
	case "calendar":
		return ok && s.Calendar
	case "contacts":
		return ok && s.Contacts
	}
	return ok && s.Mail
}
