package graphsync

import (
	"encoding/json"
	"strconv"
)

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

// People is the user's relevance-ordered People list. It has no delta:
// every round re-reads it whole, and each person's rank is their place in
// it. People are keyed by user as well as id: the same colleague is
// relevant to many users of an application connection.
var People = &Resource{
	name: "people", service: Insights, delegated: "People.Read", application: "People.Read.All",
	shape: RankedList, items: peopleTable,
}

// PeoplePageSize is the $top of each People request. Graph documents $top
// and $skip for paging but neither a default nor a maximum page size; pages
// of 100 keep requests few without relying on larger pages being accepted.
const PeoplePageSize = 100

var peopleTable = &Table{
	Name: "people", Item: "person",
	Key: []string{"user_id", "id"},
	Columns: []Column{{"user_id", Key}, {"id", Key}, {"display_name", Text}, {"given_name", Text},
		{"surname", Text}, {"job_title", Text}, {"company_name", Text}, {"department", Text},
		{"office_location", Text}, {"user_principal_name", Text}, {"person_class", Text},
		{"person_subclass", Text}, {"scored_email_addresses", JSON}, {"phones", JSON},
		{"relevance_rank", Value}, {"raw", JSON}},
	Path: func(user, _ string) string { return user + "/people?$top=" + strconv.Itoa(PeoplePageSize) },
	Seen: true,
	// A person whose rank moves is rewritten though Graph's object is not.
	Also: []string{"relevance_rank"},
	Map: func(raw []byte, c MapContext) (Row, error) {
		g, err := DecodePerson(raw)
		if err != nil {
			return Row{}, err
		}
		var class, subclass string
		if g.PersonType != nil {
			class, subclass = g.PersonType.Class, g.PersonType.Subclass
		}
		return Row{Values: []any{c.User, g.ID, g.DisplayName, g.GivenName, g.Surname, g.JobTitle, g.CompanyName,
			g.Department, g.OfficeLocation, g.UserPrincipalName, class, subclass,
			rawField(raw, "scoredEmailAddresses"), rawField(raw, "phones"), int32(c.Position), raw}}, nil
	},
}
