package graphsync

import "encoding/json"

// Person is someone relevant to the user, from /me/people (no delta: the
// list is re-read and paged with $top/$skip).
type Person struct {
	ID                   string            `json:"id"`
	DisplayName          string            `json:"displayName,omitempty"`
	GivenName            string            `json:"givenName,omitempty"`
	Surname              string            `json:"surname,omitempty"`
	Birthday             string            `json:"birthday,omitempty"`
	PersonNotes          string            `json:"personNotes,omitempty"`
	IsFavorite           bool              `json:"isFavorite,omitempty"`
	JobTitle             string            `json:"jobTitle,omitempty"`
	CompanyName          string            `json:"companyName,omitempty"`
	YomiCompany          string            `json:"yomiCompany,omitempty"`
	Department           string            `json:"department,omitempty"`
	OfficeLocation       string            `json:"officeLocation,omitempty"`
	Profession           string            `json:"profession,omitempty"`
	UserPrincipalName    string            `json:"userPrincipalName,omitempty"`
	IMAddress            string            `json:"imAddress,omitempty"`
	ScoredEmailAddresses []ScoredEmail     `json:"scoredEmailAddresses,omitempty"`
	Phones               []Phone           `json:"phones,omitempty"`
	PostalAddresses      []json.RawMessage `json:"postalAddresses,omitempty"`
	Websites             []json.RawMessage `json:"websites,omitempty"`
	PersonType           *PersonType       `json:"personType,omitempty"`
}

// ScoredEmail is an address with its relevance to the user.
type ScoredEmail struct {
	Address        string  `json:"address,omitempty"`
	RelevanceScore float64 `json:"relevanceScore,omitempty"`
}

// Phone is a typed phone number.
type Phone struct {
	Type   string `json:"type,omitempty"`
	Number string `json:"number,omitempty"`
}

// PersonType says whether a Person is a person or a group.
type PersonType struct {
	Class    string `json:"class,omitempty"`
	Subclass string `json:"subclass,omitempty"`
}

// DecodePerson decodes one person.
func DecodePerson(raw json.RawMessage) (Person, error) {
	return decode[Person]("person", raw)
}
