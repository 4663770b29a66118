package graphsync

import "encoding/json"

// User is a directory user, as /me or /users/{id} returns it.
type User struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName,omitempty"`
	GivenName         string   `json:"givenName,omitempty"`
	Surname           string   `json:"surname,omitempty"`
	UserPrincipalName string   `json:"userPrincipalName,omitempty"`
	Mail              string   `json:"mail,omitempty"`
	JobTitle          string   `json:"jobTitle,omitempty"`
	Department        string   `json:"department,omitempty"`
	OfficeLocation    string   `json:"officeLocation,omitempty"`
	MobilePhone       string   `json:"mobilePhone,omitempty"`
	BusinessPhones    []string `json:"businessPhones,omitempty"`
	PreferredLanguage string   `json:"preferredLanguage,omitempty"`
	AccountEnabled    *bool    `json:"accountEnabled,omitempty"`
	UserType          string   `json:"userType,omitempty"`
}

// DecodeUser decodes one user.
func DecodeUser(raw json.RawMessage) (User, error) {
	return decode[User]("user", raw)
}
