package graphsync

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is a calendar event from calendarView/delta. Events outside the
// requested window can arrive as @removed: the caller filters them.
type Event struct {
	ID                         string            `json:"id"`
	ETag                       string            `json:"@odata.etag,omitempty"`
	ChangeKey                  string            `json:"changeKey,omitempty"`
	CreatedDateTime            time.Time         `json:"createdDateTime"`
	LastModifiedDateTime       time.Time         `json:"lastModifiedDateTime"`
	ICalUID                    string            `json:"iCalUId,omitempty"`
	Subject                    string            `json:"subject,omitempty"`
	BodyPreview                string            `json:"bodyPreview,omitempty"`
	Body                       *ItemBody         `json:"body,omitempty"`
	Start                      *DateTimeTimeZone `json:"start,omitempty"`
	End                        *DateTimeTimeZone `json:"end,omitempty"`
	OriginalStartTimeZone      string            `json:"originalStartTimeZone,omitempty"`
	OriginalEndTimeZone        string            `json:"originalEndTimeZone,omitempty"`
	IsAllDay                   bool              `json:"isAllDay,omitempty"`
	IsCancelled                bool              `json:"isCancelled,omitempty"`
	IsOrganizer                bool              `json:"isOrganizer,omitempty"`
	IsOnlineMeeting            bool              `json:"isOnlineMeeting,omitempty"`
	IsReminderOn               bool              `json:"isReminderOn,omitempty"`
	ReminderMinutesBeforeStart int               `json:"reminderMinutesBeforeStart,omitempty"`
	ResponseRequested          bool              `json:"responseRequested,omitempty"`
	ResponseStatus             *ResponseStatus   `json:"responseStatus,omitempty"`
	Importance                 string            `json:"importance,omitempty"`
	Sensitivity                string            `json:"sensitivity,omitempty"`
	ShowAs                     string            `json:"showAs,omitempty"`
	Type                       string            `json:"type,omitempty"` // singleInstance, occurrence, exception, seriesMaster
	SeriesMasterID             string            `json:"seriesMasterId,omitempty"`
	WebLink                    string            `json:"webLink,omitempty"`
	OnlineMeetingURL           string            `json:"onlineMeetingUrl,omitempty"`
	Categories                 []string          `json:"categories,omitempty"`
	Location                   *Location         `json:"location,omitempty"`
	Locations                  []Location        `json:"locations,omitempty"`
	Organizer                  *Recipient        `json:"organizer,omitempty"`
	Attendees                  []Attendee        `json:"attendees,omitempty"`
	Recurrence                 json.RawMessage   `json:"recurrence,omitempty"` // patternedRecurrence, kept as sent
	HasAttachments             bool              `json:"hasAttachments,omitempty"`
}

// DateTimeTimeZone is a wall-clock time and the zone it is in, as Outlook
// sends it ("2017-04-15T12:00:00.0000000", "Pacific Standard Time").
// Request Prefer: outlook.timezone="UTC" to receive UTC.
type DateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// Time resolves the value for UTC and IANA zone names. Windows zone names
// ("Pacific Standard Time") are not mapped: ask Graph for UTC instead.
func (d DateTimeTimeZone) Time() (time.Time, error) {
	loc := time.UTC
	if tz := d.TimeZone; tz != "" && !strings.EqualFold(tz, "UTC") && !strings.EqualFold(tz, "tzone://Microsoft/Utc") {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return time.Time{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
		loc = l
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSuffix(d.DateTime, "Z"), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("date time %q: %w", d.DateTime, err)
	}
	return t, nil
}

// ResponseStatus is an attendee's or the user's answer to an invitation.
type ResponseStatus struct {
	Response string    `json:"response,omitempty"` // none, organizer, accepted, declined, tentativelyAccepted, notResponded
	Time     time.Time `json:"time"`
}

// Attendee is an invited person or resource.
type Attendee struct {
	Type         string          `json:"type,omitempty"` // required, optional, resource
	Status       *ResponseStatus `json:"status,omitempty"`
	EmailAddress EmailAddress    `json:"emailAddress"`
}

// Location is where an event takes place.
type Location struct {
	DisplayName  string           `json:"displayName,omitempty"`
	LocationType string           `json:"locationType,omitempty"`
	UniqueID     string           `json:"uniqueId,omitempty"`
	UniqueIDType string           `json:"uniqueIdType,omitempty"`
	Address      *PhysicalAddress `json:"address,omitempty"`
}

// DecodeEvent decodes one calendarView/delta entry.
func DecodeEvent(raw json.RawMessage) (Event, error) {
	return decode[Event]("event", raw)
}
