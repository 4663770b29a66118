package jobs

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// contactsParallelFolders is how many contact folders of one mailbox sync at
// once; they share the mailbox's Outlook budget with mail and calendar.
const contactsParallelFolders = 2

// defaultContacts names the default Contacts folder's stream. The folder is
// not listed by contactFolders/delta (which lists the folders below it), and
// Graph documents contact delta only per folder, so its contacts are read
// through the folder's well-known name.
const defaultContacts = "contacts"

func init() { register("contacts", syncContacts) }

// syncContacts syncs the contact folders through contactFolders/delta, then
// the default Contacts folder's and every live folder's contacts through
// their own contacts/delta.
func syncContacts(ctx context.Context, r *run) error {
	return r.syncFolderTree(ctx, folderTree{
		foldersPath:  "/contactFolders/delta",
		applyFolders: r.applyContactFolders,
		retireFolders: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenContactFoldersTx(ctx, tx, r.conn.ID, r.userID, since)
		},
		folders: func(ctx context.Context) ([]string, error) {
			ids, err := r.svc.store.LiveContactFolders(ctx, r.conn.ID, r.userID)
			return append([]string{defaultContacts}, ids...), err
		},
		parallel:   contactsParallelFolders,
		syncFolder: r.syncContactFolder,
	})
}

func (r *run) syncContactFolder(ctx context.Context, name string) error {
	st := r.stream(name)
	// folderID is what rows of the stream are stored under: "" for the
	// default folder, whose Graph id its contacts carry as parentFolderId.
	folderID := name
	if name == defaultContacts {
		folderID = ""
	}
	return r.runDelta(ctx, deltaStream{
		stream:  st,
		initial: r.userPath() + "/contactFolders/" + url.PathEscape(name) + "/contacts/delta",
		service: graphsync.ServiceOutlook,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyContacts(ctx, tx, st, folderID, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenContactsTx(ctx, tx, r.conn.ID, r.userID, folderID, since)
		},
	})
}

// contactFolderComplete tells a full contact folder from a partial update:
// every full folder carries parentFolderId.
var contactFolderComplete = []byte(`"parentFolderId"`)

func (r *run) applyContactFolders(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "contact folder", "contact_folders", contactFolderComplete, items)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.ContactFolder, error) {
		f, err := graphsync.DecodeContactFolder(raw)
		return store.ContactFolder{ID: f.ID, UserID: r.userID, DisplayName: f.DisplayName,
			ParentFolderID: f.ParentFolderID, Raw: raw}, err
	})
	if err != nil {
		return p, err
	}
	n, err := r.svc.store.DeleteContactFoldersTx(ctx, tx, r.conn.ID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertContactFoldersTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	return r.written(u, n), nil
}

// contactComplete tells a full contact from a partial update: every full
// contact carries createdDateTime.
var contactComplete = []byte(`"createdDateTime"`)

func (r *run) applyContacts(ctx context.Context, tx pgx.Tx, st store.Stream, folderID string, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "contact", "contacts", contactComplete, items)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.Contact, error) {
		c, err := graphsync.DecodeContact(raw)
		if err != nil {
			return store.Contact{}, err
		}
		if c.ParentFolderID == "" {
			c.ParentFolderID = folderID
		}
		return normalizeContact(r.userID, &c, raw), nil
	})
	if err != nil {
		return p, err
	}
	n, err := r.svc.store.DeleteContactsTx(ctx, tx, r.conn.ID, r.userID, folderID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertContactsTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	return r.written(u, n), nil
}

func normalizeContact(userID string, c *graphsync.Contact, raw []byte) store.Contact {
	row := store.Contact{ID: c.ID, UserID: userID, FolderID: c.ParentFolderID, DisplayName: c.DisplayName,
		GivenName: c.GivenName, Surname: c.Surname, BusinessPhones: c.BusinessPhones, MobilePhone: c.MobilePhone,
		HomePhones: c.HomePhones, CompanyName: c.CompanyName, JobTitle: c.JobTitle, Department: c.Department,
		Categories: c.Categories, CreatedAt: c.CreatedDateTime, LastModifiedAt: c.LastModifiedDateTime, Raw: raw}
	if c.Birthday != nil {
		row.Birthday = *c.Birthday
	}
	row.EmailAddresses = rawFields(raw, "emailAddresses")[0]
	for _, a := range c.EmailAddresses {
		if a := strings.TrimSpace(a.Address); a != "" {
			row.EmailAddress = a
			break
		}
	}
	return row
}
