package emulator

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// eventState is the calendar data behind an event entry.
type eventState struct {
	start, end time.Time
	kind       string // singleInstance, seriesMaster, occurrence, exception
	master     *entry // for occurrences and exceptions
	change     int
	hash       uint64
}

const eventTime = "2006-01-02T15:04:05.0000000"

func eventDateTime(t time.Time, loc *time.Location) map[string]string {
	name := "UTC"
	if loc != nil {
		t = t.In(loc)
		name = loc.String()
	}
	return map[string]string{"dateTime": t.Format(eventTime), "timeZone": name}
}

func (em *Emulator) genEvents(u *userRec, anchor time.Time, ver uint64) {
	u.events = newCollection("#microsoft.graph.event")
	r := u.rng
	n := em.cfg.EventsPerUser
	for i := 0; i < n; i++ {
		day := anchor.AddDate(0, 0, r.IntN(240)-120)
		switch {
		case i%10 == 3: // a weekly series with occurrences and one exception
			em.addSeries(u, ver, day.Add(time.Duration(8+r.IntN(8))*time.Hour), 12)
		case i%7 == 5:
			em.addEvent(u, ver, day, day.AddDate(0, 0, 1+r.IntN(2)), true)
		default:
			start := day.Add(time.Duration(7+r.IntN(11))*time.Hour + time.Duration(r.IntN(4))*15*time.Minute)
			em.addEvent(u, ver, start, start.Add(time.Duration(1+r.IntN(4))*30*time.Minute), false)
		}
	}
}

func (em *Emulator) eventObject(u *userRec, st *eventState, id string, allDay bool, subject string) object {
	r := u.rng
	ck := changeKey(st.hash, st.change)
	o := object{}
	o.set("@odata.type", "#microsoft.graph.event")
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("id", id)
	now := em.now().UTC().Format(graphTime)
	o.set("createdDateTime", now)
	o.set("lastModifiedDateTime", now)
	o.set("changeKey", ck)
	o.set("categories", []string{})
	o.set("transactionId", nil)
	o.set("originalStartTimeZone", "UTC")
	o.set("originalEndTimeZone", "UTC")
	o.set("iCalUId", fmt.Sprintf("040000008200E00074C5B7101A82E008000000%016X", st.hash))
	o.set("uid", fmt.Sprintf("040000008200E00074C5B7101A82E008000000%016X", st.hash))
	o.set("reminderMinutesBeforeStart", 15)
	o.set("isReminderOn", !allDay)
	o.set("hasAttachments", false)
	o.set("subject", subject)
	text := bodyText(r, 200+r.IntN(800))
	o.set("bodyPreview", text[:min(len(text), 255)])
	o.set("importance", "normal")
	o.set("sensitivity", "normal")
	o.set("isAllDay", allDay)
	o.set("isCancelled", false)
	organizer := em.users[r.IntN(len(em.users))]
	o.set("isOrganizer", organizer == u)
	o.set("responseRequested", true)
	o.set("seriesMasterId", nil)
	o.set("showAs", pick(r, []string{"busy", "busy", "tentative", "free", "oof", "workingElsewhere"}))
	o.set("type", st.kind)
	o.set("webLink", "https://outlook.office365.com/owa/?itemid="+url.QueryEscape(id)+"&exvsurl=1&path=/calendar/item")
	online := r.IntN(2) == 0
	o.set("onlineMeetingUrl", nil)
	o.set("isOnlineMeeting", online)
	if online {
		o.set("onlineMeetingProvider", "teamsForBusiness")
	} else {
		o.set("onlineMeetingProvider", "unknown")
	}
	o.set("allowNewTimeProposals", true)
	o.set("isDraft", false)
	o.set("hideAttendees", false)
	resp := "organizer"
	if organizer != u {
		resp = pick(r, []string{"accepted", "tentativelyAccepted", "notResponded", "declined"})
	}
	o.set("responseStatus", map[string]string{"response": resp, "time": "0001-01-01T00:00:00Z"})
	o.set("body", map[string]string{"contentType": "html", "content": "<html><body><p>" + text + "</p></body></html>"})
	o.set("start", eventDateTime(st.start, nil))
	o.set("end", eventDateTime(st.end, nil))
	room := pick(r, []string{"Conference Room Adams", "Salle Étoile", "会议室 3", "Microsoft Teams Meeting", ""})
	o.set("location", map[string]any{"displayName": room, "locationType": "default", "uniqueIdType": "unknown"})
	if room == "" {
		o.set("locations", []any{})
	} else {
		o.set("locations", []any{map[string]any{"displayName": room, "locationType": "default", "uniqueIdType": "unknown"}})
	}
	o.set("recurrence", nil)
	var attendees []any
	for i := 0; i < 1+r.IntN(4); i++ {
		a := em.users[r.IntN(len(em.users))]
		attendees = append(attendees, map[string]any{"type": pick(r, []string{"required", "required", "optional"}),
			"status":       map[string]string{"response": pick(r, []string{"none", "accepted", "declined", "tentativelyAccepted"}), "time": "0001-01-01T00:00:00Z"},
			"emailAddress": map[string]string{"name": a.name, "address": a.upn}})
	}
	o.set("attendees", attendees)
	o.set("organizer", map[string]any{"emailAddress": map[string]string{"name": organizer.name, "address": organizer.upn}})
	if online {
		o.set("onlineMeeting", map[string]string{"joinUrl": fmt.Sprintf("https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%x%%40thread.v2/0", st.hash)})
	} else {
		o.set("onlineMeeting", nil)
	}
	return o
}

func (em *Emulator) addEvent(u *userRec, ver uint64, start, end time.Time, allDay bool) *entry {
	h := em.hash64(u.id, "event", strconv.Itoa(len(u.events.entries)))
	st := &eventState{start: start, end: end, kind: "singleInstance", hash: h}
	id := outlookID("AAMkAGE", h, 1)
	subject := fmt.Sprintf("%s %s", pick(u.rng, []string{"Sync:", "1:1", "Review", "Lunch –", "Planning", "Kickoff", "Standup", "Offsite"}), pick(u.rng, words))
	if allDay {
		subject = pick(u.rng, []string{"Holiday 🏖", "Conference", "Off-site day", "Jour férié"})
	}
	o := em.eventObject(u, st, id, allDay, subject)
	return u.events.add(ver, &entry{key: id, id: id, immID: outlookID("AAkALgE", h, 0), obj: o, when: start, aux: st})
}

// addSeries adds a weekly series: the master (full, with the first
// occurrence's start and end and the recurrence), its occurrences (served
// with only id, type, seriesMasterId, start and end, as calendarView delta
// does) and one exception (full).
func (em *Emulator) addSeries(u *userRec, ver uint64, first time.Time, count int) {
	h := em.hash64(u.id, "series", strconv.Itoa(len(u.events.entries)))
	dur := time.Duration(1+u.rng.IntN(2)) * 30 * time.Minute
	st := &eventState{start: first, end: first.Add(dur), kind: "seriesMaster", hash: h}
	id := outlookID("AAMkAGE", h, 1)
	o := em.eventObject(u, st, id, false, "Weekly "+pick(u.rng, []string{"team sync", "standup", "Jour fixe", "定例会"}))
	o.set("recurrence", map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
			"daysOfWeek": []string{strings.ToLower(first.Weekday().String())}, "firstDayOfWeek": "sunday", "index": "first"},
		"range": map[string]any{"type": "numbered", "startDate": first.Format("2006-01-02"), "endDate": "0001-01-01",
			"recurrenceTimeZone": "UTC", "numberOfOccurrences": count},
	})
	master := u.events.add(ver, &entry{key: id, id: id, immID: outlookID("AAkALgE", h, 0), obj: o, when: first, aux: st})
	exception := 1 + u.rng.IntN(count-1)
	for i := 0; i < count; i++ {
		s := first.AddDate(0, 0, 7*i)
		oh := h + uint64(i) + 1
		oid := outlookID("AAMkAGE", h, uint64(i)+2)
		ost := &eventState{start: s, end: s.Add(dur), kind: "occurrence", master: master, hash: oh}
		var oo object
		if i == exception {
			ost.kind = "exception"
			ost.start = ost.start.Add(time.Hour)
			ost.end = ost.end.Add(time.Hour)
			oo = em.eventObject(u, ost, oid, false, o.str("subject")+" (moved)")
			oo.set("seriesMasterId", id)
		} else {
			oo = occurrenceObject(ost, oid, id)
		}
		u.events.add(ver, &entry{key: oid, id: oid, immID: outlookID("AAkALgE", oh, 0), obj: oo, when: ost.start, aux: ost,
			refs: map[string]string{id: master.immID}})
	}
}

func occurrenceObject(st *eventState, id, masterID string) object {
	ck := changeKey(st.hash, st.change)
	o := object{}
	o.set("@odata.type", "#microsoft.graph.event")
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("id", id)
	o.set("seriesMasterId", masterID)
	o.set("type", "occurrence")
	o.set("start", eventDateTime(st.start, nil))
	o.set("end", eventDateTime(st.end, nil))
	return o
}

func (em *Emulator) touchEvent(e *entry) {
	st := e.aux.(*eventState)
	st.change++
	ck := changeKey(st.hash, st.change)
	e.obj.set("@odata.etag", `W/"`+ck+`"`)
	if e.obj.get("changeKey") != nil {
		e.obj.set("changeKey", ck)
		e.obj.set("lastModifiedDateTime", em.now().UTC().Format(graphTime))
	}
}

func (em *Emulator) mutateEvents(u *userRec, r *rand.Rand, ver uint64) string {
	live := u.events.live()
	var singles []*entry
	for _, e := range live {
		if k := e.aux.(*eventState).kind; k == "singleInstance" || k == "exception" {
			singles = append(singles, e)
		}
	}
	op := r.IntN(100)
	switch {
	case op < 20 || len(singles) == 0:
		start := em.now().UTC().Truncate(time.Hour).Add(time.Duration(r.IntN(24*30)) * time.Hour)
		e := em.addEvent(u, ver, start, start.Add(time.Hour), false)
		return "event created " + e.id
	case op < 50:
		e := pick(r, singles)
		e.obj.set("subject", e.obj.str("subject")+" (updated)")
		e.obj.set("showAs", pick(r, []string{"busy", "tentative", "free"}))
		em.touchEvent(e)
		u.events.update(ver, e, "subject", "showAs", "lastModifiedDateTime", "changeKey")
		return "event updated " + e.id
	case op < 65:
		e := pick(r, singles)
		st := e.aux.(*eventState)
		shift := time.Duration(r.IntN(24*200)-24*100) * time.Hour
		st.start, st.end = st.start.Add(shift), st.end.Add(shift)
		e.when = st.start
		e.obj.set("start", eventDateTime(st.start, nil))
		e.obj.set("end", eventDateTime(st.end, nil))
		em.touchEvent(e)
		u.events.update(ver, e, "start", "end", "lastModifiedDateTime", "changeKey")
		return "event rescheduled " + e.id
	case op < 75:
		e := pick(r, singles)
		e.obj.set("isCancelled", true)
		e.obj.set("subject", "Canceled: "+e.obj.str("subject"))
		em.touchEvent(e)
		u.events.update(ver, e, "isCancelled", "subject", "lastModifiedDateTime", "changeKey")
		return "event cancelled " + e.id
	case op < 90:
		e := pick(r, singles)
		u.events.remove(ver, e)
		return "event deleted " + e.id
	default:
		var occ []*entry
		for _, e := range live {
			if e.aux.(*eventState).kind == "occurrence" {
				occ = append(occ, e)
			}
		}
		if len(occ) == 0 {
			return "no-op"
		}
		e := pick(r, occ)
		u.events.remove(ver, e)
		return "event occurrence deleted " + e.id
	}
}

// windowsZones maps common Windows time zone names (which Prefer:
// outlook.timezone accepts) to IANA names.
var windowsZones = map[string]string{
	"Pacific Standard Time": "America/Los_Angeles", "Mountain Standard Time": "America/Denver",
	"Central Standard Time": "America/Chicago", "Eastern Standard Time": "America/New_York",
	"GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
	"Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
	"Tokyo Standard Time": "Asia/Tokyo", "China Standard Time": "Asia/Shanghai", "India Standard Time": "Asia/Kolkata",
	"AUS Eastern Standard Time": "Australia/Sydney", "UTC": "UTC",
}

func parseWindowTime(s string) (time.Time, bool) {
	for _, f := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.0000000", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// calendarViewDelta serves /users/{id}/calendarView/delta. The window is
// carried in the tokens; events outside it that changed are reported as
// removed, as Microsoft documents.
func (c *call) calendarViewDelta() {
	u := c.user
	var transform func(object) object
	if tz := preferValue(c.r, "outlook.timezone"); tz != "" {
		name := tz
		if iana, ok := windowsZones[tz]; ok {
			name = iana
		}
		loc, err := time.LoadLocation(name)
		if err == nil {
			transform = func(o object) object {
				for _, k := range []string{"start", "end"} {
					var v struct{ DateTime string }
					if err := jsonUnmarshal(o.get(k), &v); err == nil {
						t, _ := time.Parse(eventTime, v.DateTime)
						dt := eventDateTime(t, loc)
						dt["timeZone"] = tz
						o.set(k, dt)
					}
				}
				return o
			}
		}
	}
	c.serveDelta(deltaSpec{
		key: "cv/" + u.id, col: func() *collection { return u.events },
		path: "/users/" + u.id + "/calendarView/delta", context: c.context("Collection(event)"),
		defSize: outlookDefaultPage, maxSize: outlookMaxPage, partial: true, transform: transform,
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			opts := map[string]string{}
			for k, vs := range q {
				switch lk := strings.ToLower(k); lk {
				case "startdatetime", "enddatetime":
					t, ok := parseWindowTime(vs[0])
					if !ok {
						return refuse(c, "ErrorInvalidParameter", fmt.Sprintf("The value '%s' of parameter '%s' is invalid.", vs[0], k))
					}
					opts[lk] = t.Format(time.RFC3339)
				default:
					return refuse(c, "ErrorInvalidUrlQuery", fmt.Sprintf("The following parameters are not supported with change tracking over the 'Events' resource: '%s'.", k))
				}
			}
			if opts["startdatetime"] == "" || opts["enddatetime"] == "" {
				return refuse(c, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
			}
			return opts, true
		},
		removedIf: func(opts map[string]string) func(*entry) bool {
			ws, _ := time.Parse(time.RFC3339, opts["startdatetime"])
			we, _ := time.Parse(time.RFC3339, opts["enddatetime"])
			return func(e *entry) bool {
				st := e.aux.(*eventState)
				return !(st.start.Before(we) && st.end.After(ws))
			}
		},
	})
}

// eventsTruthInWindow is used by tests: live events overlapping a window.
func (em *Emulator) eventsInWindow(u *userRec, ws, we time.Time) map[string]bool {
	em.mu.RLock()
	defer em.mu.RUnlock()
	out := map[string]bool{}
	for _, e := range u.events.live() {
		st := e.aux.(*eventState)
		if st.start.Before(we) && st.end.After(ws) {
			out[e.id] = true
		}
	}
	return out
}

// AddPoisonEvent adds an event at start to a user's calendar whose
// start.dateTime is not a date, as a record a client cannot decode. It
// returns the event's immutable id.
func (em *Emulator) AddPoisonEvent(userID string, start time.Time) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return "", fmt.Errorf("emulator: no user %q", userID)
	}
	e := em.addEvent(u, em.nextVersion(), start, start.Add(time.Hour), false)
	e.obj.set("start", map[string]string{"dateTime": "not a date", "timeZone": "UTC"})
	u.events.record(em.version, e)
	return e.immID, nil
}
