package graphsync

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Site is a SharePoint site as GET /sites/{id} serves it.
type Site struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name,omitempty"`
	DisplayName          string          `json:"displayName,omitempty"`
	Description          string          `json:"description,omitempty"`
	WebURL               string          `json:"webUrl,omitempty"`
	CreatedDateTime      time.Time       `json:"createdDateTime"`
	LastModifiedDateTime time.Time       `json:"lastModifiedDateTime"`
	SiteCollection       *SiteCollection `json:"siteCollection,omitempty"`
	Root                 json.RawMessage `json:"root,omitempty"` // present on a site collection's root site
}

// SiteCollection names the host of a site's collection.
type SiteCollection struct {
	Hostname string `json:"hostname,omitempty"`
}

// Library is a site's document library, a drive (sites/{id}/drives).
type Library struct {
	DriveInfo
	Description          string    `json:"description,omitempty"`
	CreatedDateTime      time.Time `json:"createdDateTime"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
}

// DecodeSite decodes one site.
func DecodeSite(raw json.RawMessage) (Site, error) { return decode[Site]("site", raw) }

// DecodeLibrary decodes one document library.
func DecodeLibrary(raw json.RawMessage) (Library, error) { return decode[Library]("drive", raw) }

// SiteRef is a site an operator selects: by URL
// (https://contoso.sharepoint.com/sites/Sales) or by Graph site id
// (contoso.sharepoint.com,{collection guid},{site guid}).
type SiteRef struct {
	// Host and Path are a URL's host and server-relative path ("/" for
	// the root site); ID is set instead for a site id.
	Host, Path, ID string
}

// String is the reference as the operator wrote it, normalised: the URL,
// or the id.
func (s SiteRef) String() string {
	if s.ID != "" {
		return s.ID
	}
	if s.Path == "/" {
		return "https://" + s.Host
	}
	return "https://" + s.Host + s.Path
}

// GraphPath is the Graph path that resolves the site: sites/{hostname}:/{path}
// for a URL (site-getbypath), sites/{id} for an id.
func (s SiteRef) GraphPath() string {
	if s.ID != "" {
		// ParseSite allows no character a path must escape; Graph's
		// examples keep the commas.
		return "/sites/" + s.ID
	}
	if s.Path == "/" {
		return "/sites/" + url.PathEscape(s.Host)
	}
	segs := strings.Split(strings.Trim(s.Path, "/"), "/")
	for i, p := range segs {
		segs[i] = url.PathEscape(p)
	}
	return "/sites/" + url.PathEscape(s.Host) + ":/" + strings.Join(segs, "/")
}

// ParseSites reads a comma-separated list of sites, each a site URL or a
// Graph site id, without repeats; an empty list selects no site. A site id
// holds commas of its own (hostname,{collection id},{site id}): an entry
// that is no URL takes the two after it.
func ParseSites(list string) ([]SiteRef, error) {
	var out []SiteRef
	seen := map[string]bool{}
	parts := strings.Split(list, ",")
	for i := 0; i < len(parts); i++ {
		entry := strings.TrimSpace(parts[i])
		if entry == "" {
			continue
		}
		if !strings.Contains(entry, "://") && i+2 < len(parts) {
			entry = entry + "," + strings.TrimSpace(parts[i+1]) + "," + strings.TrimSpace(parts[i+2])
			i += 2
		}
		ref, err := ParseSite(entry)
		if err != nil {
			return nil, err
		}
		if k := strings.ToLower(ref.String()); !seen[k] {
			seen[k] = true
			out = append(out, ref)
		}
	}
	return out, nil
}

// ParseSite reads one site URL or Graph site id.
func ParseSite(entry string) (SiteRef, error) {
	if strings.Contains(entry, "://") {
		u, err := url.Parse(entry)
		switch {
		case err != nil:
			return SiteRef{}, fmt.Errorf("site %q: not a URL: %w", entry, err)
		case u.Scheme != "https":
			return SiteRef{}, fmt.Errorf("site %q: the URL must be https", entry)
		case u.Host == "" || strings.Contains(u.Host, ",") || u.Port() != "":
			return SiteRef{}, fmt.Errorf("site %q: the URL has no SharePoint host name", entry)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			return SiteRef{}, fmt.Errorf("site %q: the URL must be the site's address alone, without query, fragment or user", entry)
		}
		path := "/" + strings.Trim(u.Path, "/")
		if strings.Contains(path, "//") || strings.ContainsAny(path, ":,") {
			return SiteRef{}, fmt.Errorf("site %q: the URL's path is not a site's", entry)
		}
		return SiteRef{Host: strings.ToLower(u.Host), Path: path}, nil
	}
	// A site id is hostname,{site collection guid},{site guid}
	// (resources/site, "id").
	parts := strings.Split(entry, ",")
	if len(parts) != 3 || parts[0] == "" || strings.ContainsAny(entry, "/ :") || !isGUID(parts[1]) || !isGUID(parts[2]) {
		return SiteRef{}, fmt.Errorf("site %q is neither an https URL nor a site id (hostname,{site collection id},{site id})", entry)
	}
	return SiteRef{ID: entry}, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}

// Sites are the document libraries of the SharePoint sites an operator
// selects (the worker's --sites): each site resolved (sites/{host}:/{path}
// or sites/{id}) and its libraries listed (sites/{id}/drives) whole each
// pass, then each library's items through the same drive delta, table and
// normaliser as a OneDrive, under the tenant's SharePoint budget. The
// sites are the tenant's, chosen by its operator: an application
// connection reads them once for the tenant (rows with no user); a
// delegated connection cannot enable them, as each of its users would
// store another copy of the same libraries. With no site selected, a pass
// has nothing to read and succeeds.
var Sites = &Resource{
	name: "sites", service: OneDrive, application: "Sites.Read.All",
	shape: SiteTree, outer: sitesTable, folders: siteDrives, items: driveItems,
	parallel: 4, tenant: true,
}

// SiteStream is the container of the stream recording a selected site's
// state (resolved, not found, access denied).
func SiteStream(ref SiteRef) string { return SiteStreamPrefix + ref.String() }

// SiteStreamPrefix begins the container of every selected site's stream.
const SiteStreamPrefix = "site "

var sitesTable = &Table{
	Name: "sites", Item: "site", Label: "display_name",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"name", Text}, {"display_name", Text}, {"description", Text},
		{"web_url", Text}, {"hostname", Text}, {"is_root", Value}, {"created_at", Time}, {"modified_at", Time}, {"raw", JSON}},
	Shared:   true,
	Cascades: []Cascade{{Table: siteDrives, Column: "site_id"}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		s, err := DecodeSite(raw)
		var host string
		if s.SiteCollection != nil {
			host = s.SiteCollection.Hostname
		}
		isRoot := len(s.Root) > 0 && string(s.Root) != "null"
		return Row{Values: []any{s.ID, c.User, s.Name, s.DisplayName, s.Description, s.WebURL, host, &isRoot,
			s.CreatedDateTime, s.LastModifiedDateTime, raw}}, err
	},
}

var siteDrives = &Table{
	Name: "site_drives", Item: "document library", Label: "name",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"site_id", Text}, {"name", Text}, {"description", Text},
		{"drive_type", Text}, {"web_url", Text}, {"owner", Text}, {"created_at", Time}, {"modified_at", Time}, {"raw", JSON}},
	// The container is the site.
	Path:     func(_, site string) string { return "/sites/" + url.PathEscape(site) + "/drives" },
	Shared:   true,
	Cascades: []Cascade{{Table: driveItems, Column: "drive_id"}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		d, err := DecodeLibrary(raw)
		return Row{Values: []any{d.ID, c.User, c.Container, d.Name, d.Description, d.DriveType, d.WebURL,
			identityName(d.Owner), d.CreatedDateTime, d.LastModifiedDateTime, raw}}, err
	},
}

// LibraryStream is the container of a document library's drive delta.
func LibraryStream(driveID string) string { return "drives/" + driveID }
