package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func init() { register("drive", syncDrive) }

// syncDrive syncs the user's OneDrive through root/delta, then keeps the
// connection's SharePoint token fresh when it has SharePoint access: drive
// syncs run more often than the refresh margin, so apps asking for the
// token find a valid one.
func syncDrive(ctx context.Context, r *run) error {
	if err := r.syncDriveDelta(ctx, ""); err != nil {
		return err
	}
	if !hasSharePoint(r.conn) {
		return nil
	}
	_, err := r.svc.sharePointToken(ctx, r.conn.ID)
	var cp *clientProblemError
	if errors.As(err, &cp) || errors.Is(err, errNotActive) {
		return err
	}
	if err != nil {
		// The drive is synced; the token is retried on the next pass or
		// redeemed when an app asks for it.
		r.log.WarnContext(ctx, "could not redeem the SharePoint token", "error", err)
	}
	return nil
}

// syncDriveDelta brings one drive up to date: the user's own drive when
// driveID is empty, else /drives/{driveID}. A 410 from OneDrive
// (resyncChangesApplyDifferences and kin) restarts the stream as a full
// enumeration that retires whatever it no longer sees, which is what
// Microsoft asks of a client with no local changes to upload.
func (r *run) syncDriveDelta(ctx context.Context, driveID string) error {
	name, initial := "drive", r.userPath()+"/drive/root/delta"
	if driveID != "" {
		name, initial = "drives/"+driveID, "/drives/"+url.PathEscape(driveID)+"/root/delta"
	}
	st := r.stream(name)
	return r.runDelta(ctx, deltaStream{
		stream:  st,
		initial: initial,
		service: graphsync.ServiceOneDrive,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyDriveItems(ctx, tx, st, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenDriveItemsTx(ctx, tx, r.conn.ID, r.userID, since)
		},
	})
}

// driveItemComplete tells a full drive item from a partial one: every live
// item, the root included, has a name.
var driveItemComplete = []byte(`"name"`)

func (r *run) applyDriveItems(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "drive item", "drive_items", driveItemComplete, items)
	if err != nil {
		return p, err
	}
	rows := make([]store.DriveItem, 0, len(entries))
	var removed []string
	for _, e := range entries {
		d, err := graphsync.DecodeDriveItem(e.raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
				return p, err
			}
			continue
		}
		// OneDrive marks deletions with the deleted facet; @removed is
		// accepted too, as other delta feeds use it.
		if e.removed || d.Deleted != nil {
			removed = append(removed, e.id)
			continue
		}
		raw, ok, err := r.mergePartial(ctx, tx, st, e, stored)
		if err != nil {
			return p, err
		}
		if !ok {
			continue
		}
		if d, err = graphsync.DecodeDriveItem(raw); err == nil {
			err = checkDriveItem(&d)
		}
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, raw); err != nil {
				return p, err
			}
			continue
		}
		rows = append(rows, driveRow(r.userID, &d, raw))
	}
	u, err := r.svc.store.UpsertDriveItemsTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	// Deletions go after the upserts so that an item moved out of a folder
	// deleted in the same page is not retired with the folder.
	n, err := r.svc.store.DeleteDriveItemsTx(ctx, tx, r.conn.ID, removed)
	if err != nil {
		return p, err
	}
	p.Deleted, p.Upserted = int(n), int(u)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(u))
	recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(n))
	return p, nil
}

// checkDriveItem refuses live items that cannot be placed in the tree.
func checkDriveItem(d *graphsync.DriveItem) error {
	switch {
	case d.Name == "":
		return fmt.Errorf("driveItem %s has no name", d.ID)
	case !d.IsRoot() && (d.ParentReference == nil || d.ParentReference.ID == ""):
		return fmt.Errorf("driveItem %s has no parentReference.id", d.ID)
	}
	return nil
}

func driveRow(userID string, d *graphsync.DriveItem, raw []byte) store.DriveItem {
	size := d.Size
	row := store.DriveItem{ID: d.ID, UserID: userID, Name: d.Name, IsRoot: d.IsRoot(), IsFolder: d.Folder != nil || d.IsRoot(),
		Size: &size, CreatedBy: identityName(d.CreatedBy), ModifiedBy: identityName(d.LastModifiedBy),
		CreatedAt: d.CreatedDateTime, ModifiedAt: d.LastModifiedDateTime, WebURL: d.WebURL, Raw: raw}
	if ref := d.ParentReference; ref != nil {
		row.DriveID = ref.DriveID
		if !d.IsRoot() {
			row.ParentID = ref.ID
		}
	}
	if f := d.File; f != nil {
		row.MimeType = f.MimeType
		if h := f.Hashes; h != nil {
			row.QuickXorHash, row.SHA1Hash, row.SHA256Hash = h.QuickXorHash, h.SHA1Hash, h.SHA256Hash
		}
	}
	return row
}

// identityName names who did something: a user by e-mail, display name or
// id, else the application or device.
func identityName(s *graphsync.IdentitySet) string {
	if s == nil {
		return ""
	}
	for _, id := range []*graphsync.Identity{s.User, s.Application, s.Device} {
		if id == nil {
			continue
		}
		for _, v := range []string{id.Email, id.DisplayName, id.ID} {
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// Resources of Service.AccessToken.
const (
	TokenGraph      = "graph"
	TokenSharePoint = "sharepoint"
)

// ErrNoSharePoint says a connection cannot have a SharePoint token.
var ErrNoSharePoint = errors.New("no SharePoint access: only delegated connections granted Sites.Read.All (or another Sites permission) have a SharePoint token")

// AccessToken returns a usable access token of a connection for Graph
// (TokenGraph) or for its tenant's SharePoint (TokenSharePoint), redeeming a
// new one first when the stored one is about to expire.
func (s *Service) AccessToken(ctx context.Context, connectionID int64, resource string) (string, error) {
	switch resource {
	case TokenGraph:
		return s.accessToken(ctx, connectionID)
	case TokenSharePoint:
		t, err := s.sharePointToken(ctx, connectionID)
		return t.AccessToken, err
	}
	return "", fmt.Errorf("access token of connection %d: unknown resource %q (want %s or %s)", connectionID, resource, TokenGraph, TokenSharePoint)
}

// hasSharePoint reports whether a connection's grant covers SharePoint:
// a delegated grant with a Sites permission.
func hasSharePoint(c *store.Connection) bool {
	if c.Kind != store.KindDelegated {
		return false
	}
	for _, sc := range c.Scopes {
		name := sc[strings.LastIndex(sc, "/")+1:]
		switch strings.ToLower(name) {
		case "sites.read.all", "sites.readwrite.all", "sites.manage.all", "sites.fullcontrol.all":
			return true
		}
	}
	return false
}

// sharePointToken returns the connection's stored SharePoint token while it
// is fresh, else redeems the refresh token for a new one with the
// connection's row locked, so that racing workers and commands redeem once.
// The rotated refresh token is stored in the same transaction.
func (s *Service) sharePointToken(ctx context.Context, connectionID int64) (store.SharePointToken, error) {
	fresh := func(t store.SharePointToken) bool {
		return t.AccessToken != "" && time.Until(t.Expiry) > s.cfg.RefreshAhead
	}
	cur, err := s.store.SharePointTokenTx(ctx, s.store.Pool(), connectionID)
	if err != nil || fresh(cur) {
		return cur, err
	}
	conn, err := s.store.Connection(ctx, connectionID)
	if err != nil {
		return store.SharePointToken{}, err
	}
	if !hasSharePoint(conn) {
		return store.SharePointToken{}, fmt.Errorf("connection %d: %w", connectionID, ErrNoSharePoint)
	}
	resource := cur.Resource
	if resource == "" {
		// A Graph call: made before the row is locked.
		if resource, err = s.discoverSharePoint(ctx, conn); err != nil {
			return store.SharePointToken{}, err
		}
	}
	var out store.SharePointToken
	outcome := ""
	err = s.store.Tx(ctx, func(tx pgx.Tx) error {
		conn, tok, err := s.store.LockTokensTx(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		if conn.Status != store.StatusActive {
			return fmt.Errorf("SharePoint token of connection %d: %w (status %s)", connectionID, errNotActive, conn.Status)
		}
		if cur, err := s.store.SharePointTokenTx(ctx, tx, connectionID); err != nil {
			return err
		} else if fresh(cur) {
			out = cur // another process redeemed it meanwhile
			return nil
		}
		if tok.RefreshToken == "" {
			return fmt.Errorf("SharePoint token of connection %d: no refresh token stored", connectionID)
		}
		auth, err := s.authFor(conn.TenantID)
		if err != nil {
			return err
		}
		nt, err := auth.ResourceToken(ctx, tok.RefreshToken, resource)
		var te *graphsync.TokenError
		if errors.As(err, &te) && te.ClientProblem() {
			outcome = "invalid_client"
			s.reportClientProblem(ctx, te)
			return &clientProblemError{err: te}
		}
		if err != nil {
			outcome = refreshFailure(err)
			return fmt.Errorf("SharePoint token of connection %d: %w", connectionID, err)
		}
		out = store.SharePointToken{Resource: resource, AccessToken: nt.AccessToken, Expiry: nt.Expiry}
		if err := s.store.SaveSharePointTokenTx(ctx, tx, connectionID, out); err != nil {
			return err
		}
		outcome = "ok"
		if nt.RefreshToken == tok.RefreshToken {
			return nil
		}
		return s.store.SaveTokensTx(ctx, tx, connectionID, store.Tokens{
			AccessToken: tok.AccessToken, RefreshToken: nt.RefreshToken, Expiry: tok.Expiry,
		})
	})
	if outcome != "" {
		tokenRefreshes.WithLabelValues(outcome).Inc()
	}
	if err != nil {
		return store.SharePointToken{}, err
	}
	if outcome == "ok" {
		s.log.InfoContext(ctx, "redeemed SharePoint access token", "connection_id", connectionID, "resource", resource)
	}
	return out, nil
}

// discoverSharePoint finds the tenant's SharePoint resource from the host
// of the user's OneDrive (GET /me/drive: webUrl).
func (s *Service) discoverSharePoint(ctx context.Context, conn *store.Connection) (string, error) {
	call := graphsync.Call{Mailbox: conn.UserID, Tenant: conn.TenantID, Service: graphsync.ServiceOneDrive, Resource: string(graphsync.Drive)}
	var drive graphsync.DriveInfo
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 0 {
			call.Token, err = s.accessToken(ctx, conn.ID)
		} else {
			call.Token, err = s.refresh(ctx, conn.ID, call.Token)
		}
		if err != nil {
			return "", err
		}
		if err = s.graph.Get(ctx, call, "/me/drive", &drive); !graphsync.IsUnauthorized(err) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("find the SharePoint host of connection %d: %w", conn.ID, err)
	}
	resource, err := graphsync.SharePointResource(drive.WebURL)
	if err != nil {
		return "", fmt.Errorf("find the SharePoint host of connection %d: %w", conn.ID, err)
	}
	return resource, nil
}
