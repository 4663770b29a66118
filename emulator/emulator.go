package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Emulator serves Microsoft Graph v1.0, the identity platform v2.0 endpoints
// and the /_emulator/ control plane on one origin. It is an http.Handler.
type Emulator struct {
	cfg Config
	key [32]byte // signs tokens and cursors
	// clock is replaceable in tests to age codes, tokens and secrets.
	clock atomic.Pointer[func() time.Time]
	skew  atomic.Int64 // Advance's total

	mu       sync.RWMutex // guards the tenant data below
	version  uint64
	tenants  []string // users' home tenants; the first is cfg.TenantID
	users    []*userRec
	userByID map[string]*userRec
	removed  map[string]*userRec // users RemoveUser took out, for RestoreUser
	usersCol *collection
	chats    map[string]*chat
	// chatsByUser lists each user's chats in id order (see genChats).
	chatsByUser map[*userRec][]*chat
	teams       []*team     // channels.go
	sites       []*site     // sites.go
	groups      []*group    // groups.go
	groupCol    *collection // groups and membership records, for groups/delta
	// shares are the mailboxes users shared, by (owner, delegate) (shares.go).
	shares  map[[2]string]MailboxShare
	mutRand *rand.Rand
	// moreRand draws the mutations of the resources added after the first
	// ones (attachments, channels, sites, groups), so that adding them left
	// the earlier resources' sequence of mutations as it was.
	moreRand *rand.Rand

	tokMu    sync.Mutex
	tokenGen uint64

	auth  authState
	thr   throttler
	flt   faultInjector
	cnt   counters
	rates rateLog

	mutStop chan struct{}
	mutDone chan struct{}
	mutMu   sync.Mutex

	// Change notifications (notify.go, subscriptions.go).
	ntf notifier
}

// New builds the tenant described by cfg.
func New(cfg Config) (*Emulator, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	em := &Emulator{cfg: cfg}
	em.setClock(time.Now)
	em.key = sha256.Sum256(fmt.Appendf(nil, "graphemu-key-%d-%s", cfg.Seed, cfg.TenantID))
	em.mutRand = rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d7574))
	em.moreRand = rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d6f7265))
	em.auth.init(em)
	em.thr.init()
	em.thr.cfg = cfg.Throttle
	em.flt.init(cfg.Seed)
	em.cnt.init()
	em.generate()
	return em, nil
}

func (em *Emulator) now() time.Time { return (*em.clock.Load())() }

func (em *Emulator) setClock(f func() time.Time) { em.clock.Store(&f) }

// Advance moves the emulator's clock d ahead of the real one (on top of
// earlier advances): tokens, subscriptions and lifetimes age at once, as if
// d had passed, so a test sees a subscription renewed days ahead without
// waiting.
func (em *Emulator) Advance(d time.Duration) {
	total := time.Duration(em.skew.Add(int64(d)))
	em.setClock(func() time.Time { return time.Now().Add(total) })
}

// nextVersion must be called with em.mu held for writing.
func (em *Emulator) nextVersion() uint64 {
	em.version++
	em.changed(em.version) // change notifications
	return em.version
}

// ServeHTTP dispatches between Graph, the identity platform and the control
// plane, all on one origin as the project's configuration expects.
func (em *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1.0/") || p == "/v1.0" || strings.HasPrefix(p, "/beta/"):
		em.serveGraph(w, r)
	case strings.HasPrefix(p, "/_emulator/"):
		em.serveControl(w, r)
	default:
		em.serveIdentity(w, r)
	}
}

// Users lists the tenant's users in a stable order.
func (em *Emulator) Users() []User {
	em.mu.RLock()
	defer em.mu.RUnlock()
	out := make([]User, 0, len(em.users))
	for _, u := range em.users {
		out = append(out, User{ID: u.id, UserPrincipalName: u.upn, DisplayName: u.name, TenantID: u.tenant})
	}
	return out
}

// TenantID is the tenant's directory GUID.
func (em *Emulator) TenantID() string { return em.cfg.TenantID }

// Apps lists the registered applications with their current secrets.
func (em *Emulator) Apps() []App {
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	out := make([]App, 0, len(em.auth.apps))
	for _, a := range em.cfg.Apps {
		out = append(out, *em.auth.apps[a.ClientID])
	}
	return out
}

// ExpireDeltaTokens makes every delta and skip token issued so far fail on
// next use, as when Outlook evicts its sync state.
func (em *Emulator) ExpireDeltaTokens() {
	em.tokMu.Lock()
	em.tokenGen++
	em.tokMu.Unlock()
}

func (em *Emulator) currentGen() uint64 {
	em.tokMu.Lock()
	defer em.tokMu.Unlock()
	return em.tokenGen
}

// Truth returns every live object of a resource for a user exactly as Graph
// would serve it in full with default (non-immutable) ids. Resources:
// mailFolders, messages, events, driveItems, chats, chatMessages, people,
// contacts, contactFolders, attachments, teams, channels, channelMessages,
// drivePermissions, and the tenant's groups, sites, siteDrives,
// siteDriveItems and sitePermissions (docs/emulator.md). The messages of a user with Config.LazyMessages
// include every lazy message, generated on the spot: as much memory as
// their JSON (about 9 GB for a million), so ask only for small archives.
func (em *Emulator) Truth(userID, resource string) ([]json.RawMessage, error) {
	return em.truth(userID, resource, false)
}

func (em *Emulator) truth(userID, resource string, imm bool) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	err := em.eachTruth(userID, resource, imm, nil, func(raw json.RawMessage) error {
		out = append(out, raw)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachTruth calls fn with each object of the ground truth of one user's
// resource, one at a time, so that a large mailbox's truth can be streamed
// without being held whole. keep, when not nil, selects the properties of
// stored objects (as $select does; id always); other objects come whole.
func (em *Emulator) eachTruth(userID, resource string, imm bool, keep func(string) bool, fn func(json.RawMessage) error) error {
	em.mu.RLock()
	defer em.mu.RUnlock()
	u := em.lookupUser(userID)
	if u == nil {
		return fmt.Errorf("truth: user %q not found", userID)
	}
	each := func(items []json.RawMessage) error {
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		return nil
	}
	switch resource {
	case "people":
		return each(u.peopleTruth())
	case "chats":
		return each(em.chatsTruth(u))
	case "chatMessages":
		return each(em.chatMessagesTruth(u))
	case "teams":
		return each(em.teamsTruth(u))
	case "channels":
		return each(em.channelsTruth(u))
	case "channelMessages":
		return each(em.channelMessagesTruth(u))
	case "attachments":
		return each(em.attachmentsTruth(u, imm))
	case "drivePermissions":
		return each(em.permissionsTruth([]*driveRec{u.od}))
	case "groups":
		return each(em.groupsTruth())
	case "sites":
		return each(em.sitesTruth())
	case "siteDrives":
		return each(em.siteDrivesTruth())
	case "sitePermissions":
		return each(em.permissionsTruth(em.libraries()))
	}
	var cols []*collection
	if resource == "siteDriveItems" {
		for _, d := range em.libraries() {
			cols = append(cols, d.col)
		}
	} else {
		var ok bool
		if cols, ok = u.collections(resource, false); !ok {
			return fmt.Errorf("truth: unknown resource %q", resource)
		}
	}
	for _, c := range cols {
		if c == nil {
			continue
		}
		if c.lazy != nil {
			for i := 0; i < c.lazy.n; i++ {
				if err := fn(c.lazy.append(nil, i, keep, imm)); err != nil {
					return err
				}
			}
		}
		for _, e := range c.live() {
			if e.raw != nil {
				if t, ok := rawTruth(e.raw); ok {
					if err := fn(t); err != nil {
						return err
					}
				}
				continue
			}
			b, off, end := e.obj.encode(nil, keep)
			o := appendWithID(nil, b, off, end, e.servedID(imm), e.id)
			if imm {
				o = e.immutableRefs(o, 0)
			}
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// collections are the change-logged collections holding a user's resource:
// those of live folders, and with gone those of deleted folders too.
func (u *userRec) collections(resource string, gone bool) ([]*collection, bool) {
	switch resource {
	case "mailFolders":
		return []*collection{u.mail.folders}, true
	case "messages":
		var cols []*collection
		for _, f := range u.mail.order {
			if gone || !f.gone {
				cols = append(cols, f.msgs)
			}
		}
		return cols, true
	case "events":
		return []*collection{u.events}, true
	case "driveItems":
		return []*collection{u.drive}, true
	case "contactFolders":
		return []*collection{u.contactFolders}, true
	case "contacts":
		cols := u.contactFolderList()
		if gone {
			cols = append(cols, u.contactsGone...)
		}
		return cols, true
	}
	return nil, false
}

// truth renders e's object in full, as the truth holds it.
func (e *entry) truth(imm bool) json.RawMessage {
	b, off, end := e.obj.encode(nil, nil)
	o := appendWithID(nil, b, off, end, e.servedID(imm), e.id)
	if imm {
		o = e.immutableRefs(o, 0)
	}
	return o
}

// Server is an Emulator listening on a loopback port.
type Server struct {
	*Emulator
	ln  net.Listener
	srv *http.Server
}

// Start builds an emulator and serves it on 127.0.0.1 at a free port.
func Start(cfg Config) (*Server, error) {
	em, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return Listen(em, "127.0.0.1:0")
}

// Listen serves em on addr, which the caller has checked.
func Listen(em *Emulator, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	s := &Server{Emulator: em, ln: ln, srv: &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			em.cfg.Logger.Error("serve", "err", err)
		}
	}()
	return s, nil
}

// URL is the origin, e.g. http://127.0.0.1:PORT, serving Graph under /v1.0
// and the identity platform under /{tenant}/oauth2/v2.0.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops mutations and the listener, ending open connections.
func (s *Server) Close() error {
	s.StopMutations()
	s.closeNotifications()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("emulator: shutdown: %w", err), s.srv.Close())
	}
	return nil
}

// hash64 derives deterministic values from the seed and labels.
func (em *Emulator) hash64(parts ...string) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(em.cfg.Seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
