package graphsync

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// ContactFolder is an Outlook contact folder.
type ContactFolder struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName,omitempty"`
	ParentFolderID string `json:"parentFolderId,omitempty"`
}

// Contact is an Outlook contact. Like messages, updates in a delta round
// may carry only the changed properties.
type Contact struct {
	ID                   string           `json:"id"`
	ETag                 string           `json:"@odata.etag,omitempty"`
	ChangeKey            string           `json:"changeKey,omitempty"`
	CreatedDateTime      time.Time        `json:"createdDateTime"`
	LastModifiedDateTime time.Time        `json:"lastModifiedDateTime"`
	ParentFolderID       string           `json:"parentFolderId,omitempty"`
	Categories           []string         `json:"categories,omitempty"`
	DisplayName          string           `json:"displayName,omitempty"`
	GivenName            string           `json:"givenName,omitempty"`
	MiddleName           string           `json:"middleName,omitempty"`
	Surname              string           `json:"surname,omitempty"`
	NickName             string           `json:"nickName,omitempty"`
	Title                string           `json:"title,omitempty"`
	Initials             string           `json:"initials,omitempty"`
	Generation           string           `json:"generation,omitempty"`
	FileAs               string           `json:"fileAs,omitempty"`
	Birthday             *time.Time       `json:"birthday,omitempty"`
	EmailAddresses       []EmailAddress   `json:"emailAddresses,omitempty"`
	IMAddresses          []string         `json:"imAddresses,omitempty"`
	JobTitle             string           `json:"jobTitle,omitempty"`
	CompanyName          string           `json:"companyName,omitempty"`
	Department           string           `json:"department,omitempty"`
	OfficeLocation       string           `json:"officeLocation,omitempty"`
	Profession           string           `json:"profession,omitempty"`
	Manager              string           `json:"manager,omitempty"`
	AssistantName        string           `json:"assistantName,omitempty"`
	BusinessHomePage     string           `json:"businessHomePage,omitempty"`
	MobilePhone          string           `json:"mobilePhone,omitempty"`
	BusinessPhones       []string         `json:"businessPhones,omitempty"`
	HomePhones           []string         `json:"homePhones,omitempty"`
	HomeAddress          *PhysicalAddress `json:"homeAddress,omitempty"`
	BusinessAddress      *PhysicalAddress `json:"businessAddress,omitempty"`
	OtherAddress         *PhysicalAddress `json:"otherAddress,omitempty"`
	PersonalNotes        string           `json:"personalNotes,omitempty"`
	SpouseName           string           `json:"spouseName,omitempty"`
	Children             []string         `json:"children,omitempty"`
}

// DecodeContactFolder decodes one contact folder.
func DecodeContactFolder(raw json.RawMessage) (ContactFolder, error) {
	return decode[ContactFolder]("contactFolder", raw)
}

// DecodeContact decodes one contacts/delta entry.
func DecodeContact(raw json.RawMessage) (Contact, error) {
	return decode[Contact]("contact", raw)
}

// Contacts are Outlook contacts: the contact folders through
// contactFolders/delta, then the default Contacts folder's and every live
// folder's contacts through their own contacts/delta.
var Contacts = &Resource{
	name: "contacts", service: Outlook, delegated: "Contacts.Read", application: "Contacts.Read", shared: "Contacts.Read.Shared",
	shape: FolderTree, folders: contactFolders, items: contactItems,
	notify: outlookNotifications("contacts"),
	// The default Contacts folder is not listed by contactFolders/delta
	// (which lists the folders below it), and Graph documents contact delta
	// only per folder, so its contacts are read through its well-known name.
	defaultFolder: defaultContacts,
	// They share the mailbox's Outlook budget with mail and calendar.
	parallel: 2,
}

var contactFolders = &Table{
	Name: "contact_folders", Item: "contact folder", Label: "display_name",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"display_name", Text}, {"parent_folder_id", Text}, {"raw", JSON}},
	// Every full folder carries parentFolderId.
	Full:     hasKey("parentFolderId"),
	Path:     func(user, _ string) string { return user + "/contactFolders/delta" },
	Seen:     true,
	Cascades: []Cascade{{Table: contactItems, Column: "folder_id"}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		f, err := DecodeContactFolder(raw)
		return Row{Values: []any{f.ID, c.User, f.DisplayName, f.ParentFolderID, raw}}, err
	},
}

var contactItems = &Table{
	Name: "contacts", Item: "contact",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"folder_id", Text}, {"display_name", Text},
		{"given_name", Text}, {"surname", Text}, {"email_addresses", JSON}, {"email_address", Text},
		{"business_phones", Texts}, {"mobile_phone", Text}, {"home_phones", Texts}, {"company_name", Text},
		{"job_title", Text}, {"department", Text}, {"categories", Texts}, {"birthday", Time},
		{"created_at", Time}, {"last_modified_at", Time}, {"raw", JSON}},
	// Every full contact carries createdDateTime.
	Full: hasKey("createdDateTime"),
	Path: func(user, folder string) string {
		if folder == "" {
			folder = defaultContacts
		}
		return user + "/contactFolders/" + url.PathEscape(folder) + "/contacts/delta"
	},
	Seen:      true,
	Container: "folder_id",
	Map:       mapContact,
}

// defaultContacts is the well-known name of the default Contacts folder.
const defaultContacts = "contacts"

// The folders' cascade names the contacts, so the reverse link is set here
// to keep package initialisation free of cycles.
func init() { contactItems.DefaultIn = contactFolders }

func mapContact(raw []byte, m MapContext) (Row, error) {
	c, err := DecodeContact(raw)
	if err != nil {
		return Row{}, err
	}
	// The default folder's contacts carry its Graph id as parentFolderId.
	if c.ParentFolderID == "" {
		c.ParentFolderID = m.Container
	}
	var birthday time.Time
	if c.Birthday != nil {
		birthday = c.Birthday.UTC()
	}
	var email string
	for _, a := range c.EmailAddresses {
		if a := strings.TrimSpace(a.Address); a != "" {
			email = strings.ToLower(a)
			break
		}
	}
	return Row{Values: []any{c.ID, m.User, c.ParentFolderID, c.DisplayName, c.GivenName, c.Surname,
		rawField(raw, "emailAddresses"), email, c.BusinessPhones, c.MobilePhone, c.HomePhones, c.CompanyName,
		c.JobTitle, c.Department, c.Categories, birthday, c.CreatedDateTime, c.LastModifiedDateTime, raw}}, nil
}

// rawField returns a property of a JSON object as Graph sent it, nil when
// absent or null.
func rawField(raw []byte, key string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	if v := m[key]; len(v) > 0 && string(v) != "null" {
		return v
	}
	return nil
}
