package graphsync

import (
	"encoding/json"
	"strings"
	"time"
)

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

// Users is the user discovery of an application connection: the tenant's
// users through users/delta. It is not one of a connection's resources;
// every application connection runs it, first of its tenant-level
// resources.
var Users = &Resource{
	name: "users", service: Directory, application: "User.Read.All", tenant: true,
	shape: Discovery, items: directoryUsers,
	notify: &Notifications{
		Resource:    func(string) string { return "users" },
		ChangeTypes: "updated,deleted",
		MaxLifetime: 41760 * time.Minute,
	},
}

// userSelect names the user properties users/delta tracks: a change to any
// other property does not surface, so only what directory_users stores is
// asked for.
const userSelect = "id,displayName,userPrincipalName,mail,givenName,surname,jobTitle,department,officeLocation,accountEnabled,userType"

var directoryUsers = &Table{
	Name: "directory_users", Item: "user",
	Columns: []Column{{"id", Key}, {"user_principal_name", Text}, {"display_name", Text}, {"mail", Text},
		{"given_name", Text}, {"surname", Text}, {"job_title", Text}, {"department", Text},
		{"office_location", Text}, {"account_enabled", Value}, {"user_type", Text}, {"raw", JSON}},
	// An updated user comes as its id plus at least the changed properties.
	Full:      hasKey("userPrincipalName"),
	Path:      func(_, _ string) string { return "/users/delta?$select=" + userSelect },
	Seen:      true,
	Directory: true,
	Map: func(raw []byte, _ MapContext) (Row, error) {
		u, err := DecodeUser(raw)
		return Row{Values: []any{u.ID, u.UserPrincipalName, u.DisplayName, strings.ToLower(u.Mail), u.GivenName,
			u.Surname, u.JobTitle, u.Department, u.OfficeLocation, u.AccountEnabled, u.UserType, raw}}, err
	},
}
