package graphsync

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
)

// Shapes shared by several resources.

// EmailAddress is a name and SMTP address.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// Recipient wraps an EmailAddress, as Graph nests it.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// ItemBody is a body and whether it is text or html.
type ItemBody struct {
	ContentType string `json:"contentType,omitempty"`
	Content     string `json:"content,omitempty"`
}

// Identity is a user, application or device in an IdentitySet.
type Identity struct {
	ID               string `json:"id,omitempty"`
	DisplayName      string `json:"displayName,omitempty"`
	Email            string `json:"email,omitempty"`
	UserIdentityType string `json:"userIdentityType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
}

// IdentitySet says who did something: createdBy, lastModifiedBy, from.
type IdentitySet struct {
	User        *Identity `json:"user,omitempty"`
	Application *Identity `json:"application,omitempty"`
	Device      *Identity `json:"device,omitempty"`
	Group       *Identity `json:"group,omitempty"` // a library's owner
}

// PhysicalAddress is a postal address.
type PhysicalAddress struct {
	Street          string `json:"street,omitempty"`
	City            string `json:"city,omitempty"`
	State           string `json:"state,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
}

// Removed reports whether a delta entry is an @removed tombstone, and its
// reason ("deleted": gone for good; "changed": soft-deleted or moved out of
// the tracked scope). Drive items do not use @removed: see DriveItem.Deleted.
func Removed(raw json.RawMessage) (reason string, ok bool) {
	// Most entries are not tombstones; skip the decode for them.
	if !containsAt(raw, `"@removed"`, 1) {
		return "", false
	}
	var r struct {
		Removed *struct {
			Reason string `json:"reason"`
		} `json:"@removed"`
	}
	if json.Unmarshal(raw, &r) != nil || r.Removed == nil {
		return "", false
	}
	return r.Removed.Reason, true
}

// DecodeError names the record and field that could not be decoded, so the
// record can be quarantined and the rest of the page kept.
type DecodeError struct {
	Kind  string // message, event, driveItem, ...
	ID    string // the record's id when it could be read
	Field string // the offending top-level field when it could be found
	Err   error
}

func (e *DecodeError) Error() string {
	s := e.Kind
	if e.ID != "" {
		s += " " + truncate(e.ID, 40)
	}
	if e.Field != "" {
		s += ": field " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrNoID is the error of a record that decodes but has no id.
var ErrNoID = errors.New("record has no id")

// decode unmarshals one record. Only on failure does it spend time finding
// which field broke, decoding the fields one by one.
func decode[T any](kind string, raw json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	if err == nil {
		// Rows are keyed by id: a record without one cannot be stored.
		if id := reflect.ValueOf(&v).Elem().FieldByName("ID"); id.IsValid() && id.Kind() == reflect.String && id.String() == "" {
			return v, &DecodeError{Kind: kind, Field: "id", Err: ErrNoID}
		}
		return v, nil
	}
	de := &DecodeError{Kind: kind, Err: err}
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &head) == nil {
		var id string
		if json.Unmarshal(head.ID, &id) == nil {
			de.ID = id
		} else {
			de.ID = string(head.ID)
		}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		de.Field = te.Field
		return v, de
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return v, de
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		var probe T
		if ferr := json.Unmarshal(one, &probe); ferr != nil {
			de.Field, de.Err = k, ferr
			break
		}
	}
	return v, de
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
