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

// Calendar is the primary calendar through calendarView/delta over a window
// around the current day (default a year each way), which rolls forward.
var Calendar = &Resource{
	name: "calendar", service: Outlook, delegated: "Calendars.Read", application: "Calendars.Read", shared: "Calendars.Read.Shared",
	shape: WindowedDelta, items: calendarEvents,
	notify: outlookNotifications("events"),
}

var calendarEvents = &Table{
	Name: "calendar_events", Item: "event",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"subject", Text},
		{"start_local", Text}, {"start_time_zone", Text}, {"start_at", Time},
		{"end_local", Text}, {"end_time_zone", Text}, {"end_at", Time},
		{"is_all_day", Value}, {"type", Text}, {"series_master_id", Text},
		{"organizer_address", Text}, {"organizer_name", Text}, {"is_organizer", Value}, {"location", Text},
		{"show_as", Text}, {"is_cancelled", Value}, {"is_online_meeting", Value}, {"online_meeting_url", Text},
		{"response", Text}, {"importance", Text}, {"sensitivity", Text}, {"categories", Texts},
		{"recurrence", JSON}, {"ical_uid", Text}, {"created_at", Time}, {"last_modified_at", Time},
		{"web_link", Text}, {"raw", JSON}},
	// Every full event (occurrences included) carries a top-level type; a
	// partial update names only what changed, and type never does.
	// Attendees and recurrence have a type of their own, hence top level.
	Full: hasTopKey("type"),
	// The engine adds the window (startDateTime, endDateTime).
	Path:   func(user, _ string) string { return user + "/calendarView/delta" },
	Seen:   true,
	Window: true,
	Reset:  []string{"removed_reason"},
	Child:  calendarAttendees,
	// calendarView/delta sends an occurrence as little more than its id and
	// times, and meeting-load analytics count occurrences one by one.
	Inherit: &Inherit{Column: "series_master_id", Unless: "attendees"},
	Map:     mapEvent,
}

var calendarAttendees = &Table{
	Name: "calendar_event_attendees", Item: "attendee",
	Key: []string{"event_id", "ordinal"},
	Columns: []Column{{"ordinal", Value}, {"address", Text}, {"name", Text}, {"type", Text},
		{"response", Text}, {"response_at", Time}},
}

// mapEvent refuses an event whose start or end cannot be read: the window
// logic depends on them.
func mapEvent(raw []byte, c MapContext) (Row, error) {
	ev, err := DecodeEvent(raw)
	if err != nil {
		return Row{}, err
	}
	// Booleans Graph left out (occurrences carry only id, type, times and
	// the series master) stay NULL rather than read as false.
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return Row{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	flag := func(key string, v bool) *bool {
		if _, ok := present[key]; !ok {
			return nil
		}
		return &v
	}
	var startAt, endAt time.Time
	var startLocal, startZone, endLocal, endZone string
	if ev.Start != nil {
		if startAt, err = ev.Start.Time(); err != nil {
			return Row{}, fmt.Errorf("event %s start: %w", ev.ID, err)
		}
		startLocal, startZone = ev.Start.DateTime, ev.Start.TimeZone
	}
	if ev.End != nil {
		if endAt, err = ev.End.Time(); err != nil {
			return Row{}, fmt.Errorf("event %s end: %w", ev.ID, err)
		}
		endLocal, endZone = ev.End.DateTime, ev.End.TimeZone
	}
	var organizer, organizerName, location, response string
	if ev.Organizer != nil {
		organizer = strings.ToLower(strings.TrimSpace(ev.Organizer.EmailAddress.Address))
		organizerName = ev.Organizer.EmailAddress.Name
	}
	if ev.Location != nil {
		location = ev.Location.DisplayName
	}
	if ev.ResponseStatus != nil {
		response = ev.ResponseStatus.Response
	}
	meetingURL := ev.OnlineMeetingURL
	var online struct {
		OnlineMeeting *struct {
			JoinURL string `json:"joinUrl"`
		} `json:"onlineMeeting"`
	}
	if json.Unmarshal(raw, &online) == nil && online.OnlineMeeting != nil && online.OnlineMeeting.JoinURL != "" {
		meetingURL = online.OnlineMeeting.JoinURL
	}
	row := Row{Values: []any{ev.ID, c.User, ev.Subject, startLocal, startZone, startAt, endLocal, endZone, endAt,
		flag("isAllDay", ev.IsAllDay), ev.Type, ev.SeriesMasterID, organizer, organizerName,
		flag("isOrganizer", ev.IsOrganizer), location, ev.ShowAs, flag("isCancelled", ev.IsCancelled),
		flag("isOnlineMeeting", ev.IsOnlineMeeting), meetingURL, response, ev.Importance, ev.Sensitivity,
		ev.Categories, []byte(ev.Recurrence), ev.ICalUID, ev.CreatedDateTime, ev.LastModifiedDateTime, ev.WebLink, raw}}
	for i, a := range ev.Attendees {
		var resp string
		var at time.Time
		if a.Status != nil {
			resp = a.Status.Response
			// Graph sends 0001-01-01 for "no answer yet".
			if a.Status.Time.Year() > 1 {
				at = a.Status.Time
			}
		}
		row.Children = append(row.Children, []any{int32(i), strings.ToLower(strings.TrimSpace(a.EmailAddress.Address)),
			a.EmailAddress.Name, a.Type, resp, at})
	}
	return row, nil
}

// Window is a time range [Start, End) a windowed stream (calendarView)
// syncs; its delta token is valid for that range only.
type Window struct {
	Start, End time.Time
}

// IsZero reports whether no window is set.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}
