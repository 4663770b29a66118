package graphsync

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// DriveInfo describes a user's OneDrive (/me/drive).
type DriveInfo struct {
	ID        string       `json:"id"`
	DriveType string       `json:"driveType,omitempty"` // personal, business, documentLibrary
	Name      string       `json:"name,omitempty"`
	WebURL    string       `json:"webUrl,omitempty"`
	Owner     *IdentitySet `json:"owner,omitempty"`
}

// DriveItem is a file or folder from drive delta. A deleted item carries the
// Deleted facet (never @removed) and may lack name and size. The same item
// can appear several times in a round: the last occurrence wins. Delta does
// not return parentReference.path, so track items by id.
type DriveItem struct {
	ID                   string           `json:"id"`
	Name                 string           `json:"name,omitempty"`
	ETag                 string           `json:"eTag,omitempty"`
	CTag                 string           `json:"cTag,omitempty"`
	Size                 int64            `json:"size,omitempty"`
	CreatedDateTime      time.Time        `json:"createdDateTime"`
	LastModifiedDateTime time.Time        `json:"lastModifiedDateTime"`
	WebURL               string           `json:"webUrl,omitempty"`
	ParentReference      *ItemReference   `json:"parentReference,omitempty"`
	File                 *FileFacet       `json:"file,omitempty"`
	Folder               *FolderFacet     `json:"folder,omitempty"`
	Deleted              *DeletedFacet    `json:"deleted,omitempty"`
	Root                 *json.RawMessage `json:"root,omitempty"` // present (usually {}) on the drive's root
	Package              *json.RawMessage `json:"package,omitempty"`
	RemoteItem           json.RawMessage  `json:"remoteItem,omitempty"`
	CreatedBy            *IdentitySet     `json:"createdBy,omitempty"`
	LastModifiedBy       *IdentitySet     `json:"lastModifiedBy,omitempty"`
	FileSystemInfo       *FileSystemInfo  `json:"fileSystemInfo,omitempty"`
}

// IsRoot reports whether the item is the drive's root folder.
func (d DriveItem) IsRoot() bool { return d.Root != nil }

// ItemReference locates an item's parent.
type ItemReference struct {
	DriveID   string `json:"driveId,omitempty"`
	DriveType string `json:"driveType,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Path      string `json:"path,omitempty"`
	SiteID    string `json:"siteId,omitempty"`
}

// FileFacet marks a file.
type FileFacet struct {
	MimeType string  `json:"mimeType,omitempty"`
	Hashes   *Hashes `json:"hashes,omitempty"`
}

// Hashes of a file's content; which are present depends on the drive type.
type Hashes struct {
	SHA1Hash     string `json:"sha1Hash,omitempty"`
	SHA256Hash   string `json:"sha256Hash,omitempty"`
	QuickXorHash string `json:"quickXorHash,omitempty"`
	CRC32Hash    string `json:"crc32Hash,omitempty"`
}

// FolderFacet marks a folder.
type FolderFacet struct {
	ChildCount int `json:"childCount"`
}

// DeletedFacet marks a deleted item.
type DeletedFacet struct {
	State string `json:"state,omitempty"`
}

// FileSystemInfo holds the client-reported times.
type FileSystemInfo struct {
	CreatedDateTime      time.Time `json:"createdDateTime"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
}

// DecodeDriveItem decodes one drive delta entry.
func DecodeDriveItem(raw json.RawMessage) (DriveItem, error) {
	return decode[DriveItem]("driveItem", raw)
}

// Drive is the user's OneDrive through root/delta (paths maintained by
// graphsync: delta sends none).
var Drive = &Resource{
	name: "drive", service: OneDrive, delegated: "Files.Read.All", application: "Files.Read.All",
	shape: Delta, items: driveItems,
	// OneDrive notifies only "updated", of the drive as a whole: the app
	// calls delta.
	notify: &Notifications{
		Resource:    func(user string) string { return "users/" + url.PathEscape(user) + "/drive/root" },
		ChangeTypes: "updated",
		MaxLifetime: 42300 * time.Minute,
	},
}

// OwnDrive is the container of the stream of a user's own drive; another
// drive's stream is "drives/<drive id>".
const OwnDrive = "drive"

var driveItems = &Table{
	Name: "drive_items", Item: "drive item",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"drive_id", Text}, {"name", Text}, {"parent_id", Text},
		{"is_root", Value}, {"is_folder", Value}, {"size", Value}, {"mime_type", Text}, {"quick_xor_hash", Text},
		{"sha1_hash", Text}, {"sha256_hash", Text}, {"created_by", Text}, {"modified_by", Text},
		{"created_at", Time}, {"modified_at", Time}, {"web_url", Text}, {"raw", JSON}},
	// Every live item, the root included, has a name.
	Full: hasKey("name"),
	// OneDrive marks deletions with the deleted facet; @removed is accepted
	// too, as other delta feeds use it.
	Removed: func(raw []byte) bool {
		_, gone := Removed(raw)
		return gone || hasDeletedFacet(raw)
	},
	Path: func(user, container string) string {
		if id, ok := strings.CutPrefix(container, "drives/"); ok {
			return "/drives/" + url.PathEscape(id) + "/root/delta"
		}
		return user + "/drive/root/delta"
	},
	Seen:    true,
	Tree:    true,
	Reset:   []string{"deleted_with"},
	Map:     mapDriveItem,
	Prefer:  hierarchicalSharing,
	Details: drivePermissionDetails,
	// A deleted item's permissions go with it (a tombstone, a full round's
	// or a reconciliation's retirement, its library's removal). An item
	// listed again is read again rather than revived; one its folder's
	// return brings back unreported gets back those retired with it.
	Cascades: []Cascade{{Table: drivePermissions, Column: "item_id"}},
	// A full delta round of ids lists every live item: OneDrive deletions
	// sometimes come without a tombstone (OneDrive/onedrive-api-docs#1927).
	// It selects the shared facet too: a fetched item is told to hold
	// permissions of its own by the listing's hierarchical facet, never by
	// its GET's (see Listed).
	Reconcile: &Reconcile{
		IDs: func(user, container string) string {
			if id, ok := strings.CutPrefix(container, "drives/"); ok {
				return "/drives/" + url.PathEscape(id) + "/root/delta?$select=id,shared"
			}
			return user + "/drive/root/delta?$select=id,shared"
		},
		Listed: []string{"shared"},
		Item: func(user, container, id string) string {
			if d, ok := strings.CutPrefix(container, "drives/"); ok {
				return "/drives/" + url.PathEscape(d) + "/items/" + url.PathEscape(id)
			}
			return user + "/drive/items/" + url.PathEscape(id)
		},
	},
}

// hasDeletedFacet reports whether a drive item carries a non-null deleted
// facet at its top level.
func hasDeletedFacet(raw []byte) bool {
	found := false
	jsonscan.Members(raw, func(key, val []byte) bool {
		if string(key) == `"deleted"` {
			found = string(val) != "null"
		}
		return true
	})
	return found
}

// mapDriveItem refuses live items that cannot be placed in the tree.
func mapDriveItem(raw []byte, c MapContext) (Row, error) {
	d, err := DecodeDriveItem(raw)
	if err != nil {
		return Row{}, err
	}
	switch {
	case d.Name == "":
		return Row{}, fmt.Errorf("driveItem %s has no name", d.ID)
	case !d.IsRoot() && (d.ParentReference == nil || d.ParentReference.ID == ""):
		return Row{}, fmt.Errorf("driveItem %s has no parentReference.id", d.ID)
	}
	size := d.Size
	var driveID, parent, mime, quickXor, sha1, sha256 string
	if ref := d.ParentReference; ref != nil {
		driveID = ref.DriveID
		if !d.IsRoot() {
			parent = ref.ID
		}
	}
	if f := d.File; f != nil {
		mime = f.MimeType
		if h := f.Hashes; h != nil {
			quickXor, sha1, sha256 = h.QuickXorHash, h.SHA1Hash, h.SHA256Hash
		}
	}
	isRoot, isFolder := d.IsRoot(), d.Folder != nil || d.IsRoot()
	return Row{Values: []any{d.ID, c.User, driveID, d.Name, parent, &isRoot, &isFolder, &size, mime, quickXor,
		sha1, sha256, identityName(d.CreatedBy), identityName(d.LastModifiedBy), d.CreatedDateTime,
		d.LastModifiedDateTime, d.WebURL, raw}}, nil
}

// identityName names who did something: a user by e-mail, display name or
// id, else the application, device or group.
func identityName(s *IdentitySet) string {
	if s == nil {
		return ""
	}
	for _, id := range []*Identity{s.User, s.Application, s.Device, s.Group} {
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
