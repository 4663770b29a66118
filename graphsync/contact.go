package graphsync

import (
	"encoding/json"
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
