package graphsync

import (
	"encoding/json"
	"time"
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
