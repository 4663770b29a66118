-- Outlook calendar, from the primary calendar's calendarView/delta over a
-- rolling window. An event leaves the synced view either because it was
-- deleted or because the window rolled past it; deleted_at marks both and
-- removed_reason tells them apart.

CREATE TABLE calendar_events (
    connection_id      bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                 text NOT NULL,
    user_id            text NOT NULL DEFAULT '',
    subject            text,
    start_local        text,
    start_time_zone    text,
    start_at           timestamptz,
    end_local          text,
    end_time_zone      text,
    end_at             timestamptz,
    is_all_day         boolean,
    type               text,
    series_master_id   text,
    organizer_address  text,
    organizer_name     text,
    is_organizer       boolean,
    location           text,
    show_as            text,
    is_cancelled       boolean,
    is_online_meeting  boolean,
    online_meeting_url text,
    response           text,
    importance         text,
    sensitivity        text,
    categories         text[],
    recurrence         jsonb,
    ical_uid           text,
    created_at         timestamptz,
    last_modified_at   timestamptz,
    web_link           text,
    raw                jsonb NOT NULL,
    removed_reason     text CHECK (removed_reason IN ('deleted', 'left_window')),
    deleted_at         timestamptz,
    synced_at          timestamptz NOT NULL DEFAULT now(),
    seen_at            timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX calendar_events_user_idx ON calendar_events (connection_id, user_id) WHERE deleted_at IS NULL;
CREATE INDEX calendar_events_start_idx ON calendar_events (start_at);
CREATE INDEX calendar_events_series_idx ON calendar_events (connection_id, series_master_id) WHERE series_master_id IS NOT NULL;

CREATE TABLE calendar_event_attendees (
    connection_id bigint NOT NULL,
    event_id      text NOT NULL,
    ordinal       integer NOT NULL,
    address       text,
    name          text,
    type          text,
    response      text,
    response_at   timestamptz,
    PRIMARY KEY (connection_id, event_id, ordinal),
    FOREIGN KEY (connection_id, event_id) REFERENCES calendar_events (connection_id, id) ON DELETE CASCADE
);
CREATE INDEX calendar_event_attendees_address_idx ON calendar_event_attendees (address);

ALTER TABLE sync_state ADD COLUMN window_start timestamptz, ADD COLUMN window_end timestamptz;

COMMENT ON TABLE calendar_events IS 'Events of each user''s primary calendar within the synced window, from calendarView/delta: single instances, occurrences and exceptions of series, and series masters. Live rows have deleted_at NULL.';
COMMENT ON COLUMN calendar_events.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN calendar_events.id IS 'Immutable Graph id of the event (an occurrence has its own id).';
COMMENT ON COLUMN calendar_events.user_id IS 'Entra object id of the calendar owner.';
COMMENT ON COLUMN calendar_events.subject IS 'Subject; NULL for occurrences, which calendarView/delta sends without it (read it from the series master).';
COMMENT ON COLUMN calendar_events.start_local IS 'start.dateTime as sent: wall-clock time in start_time_zone.';
COMMENT ON COLUMN calendar_events.start_time_zone IS 'start.timeZone as sent (UTC unless Graph was asked for another zone).';
COMMENT ON COLUMN calendar_events.start_at IS 'Start as an instant.';
COMMENT ON COLUMN calendar_events.end_local IS 'end.dateTime as sent: wall-clock time in end_time_zone.';
COMMENT ON COLUMN calendar_events.end_time_zone IS 'end.timeZone as sent.';
COMMENT ON COLUMN calendar_events.end_at IS 'End as an instant (exclusive).';
COMMENT ON COLUMN calendar_events.is_all_day IS 'isAllDay; NULL when Graph did not send it (occurrences).';
COMMENT ON COLUMN calendar_events.type IS 'singleInstance, occurrence, exception or seriesMaster.';
COMMENT ON COLUMN calendar_events.series_master_id IS 'For occurrences and exceptions: Graph id of the series master.';
COMMENT ON COLUMN calendar_events.organizer_address IS 'Organizer e-mail address, lower-cased.';
COMMENT ON COLUMN calendar_events.organizer_name IS 'Organizer display name.';
COMMENT ON COLUMN calendar_events.is_organizer IS 'Whether the calendar owner organizes the event.';
COMMENT ON COLUMN calendar_events.location IS 'location.displayName.';
COMMENT ON COLUMN calendar_events.show_as IS 'free, tentative, busy, oof, workingElsewhere or unknown.';
COMMENT ON COLUMN calendar_events.is_cancelled IS 'Whether the organizer cancelled the event (it stays in the calendar until removed).';
COMMENT ON COLUMN calendar_events.is_online_meeting IS 'Whether the event is an online meeting.';
COMMENT ON COLUMN calendar_events.online_meeting_url IS 'URL to join the online meeting: onlineMeeting.joinUrl, else onlineMeetingUrl.';
COMMENT ON COLUMN calendar_events.response IS 'The calendar owner''s answer (responseStatus.response): none, organizer, accepted, declined, tentativelyAccepted or notResponded.';
COMMENT ON COLUMN calendar_events.importance IS 'low, normal or high.';
COMMENT ON COLUMN calendar_events.sensitivity IS 'normal, personal, private or confidential.';
COMMENT ON COLUMN calendar_events.categories IS 'Outlook categories.';
COMMENT ON COLUMN calendar_events.recurrence IS 'For series masters: the patternedRecurrence as sent; NULL otherwise.';
COMMENT ON COLUMN calendar_events.ical_uid IS 'iCalUId, shared by every copy of the meeting across calendars.';
COMMENT ON COLUMN calendar_events.created_at IS 'createdDateTime.';
COMMENT ON COLUMN calendar_events.last_modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN calendar_events.web_link IS 'URL opening the event in Outlook on the web.';
COMMENT ON COLUMN calendar_events.raw IS 'The event as Graph sent it (partial updates merged), body included.';
COMMENT ON COLUMN calendar_events.removed_reason IS 'Why the row left the synced view (set with deleted_at): deleted = Graph reported it removed while its last known time lay inside the window (deleted, or moved out of the window by a change graphsync cannot see); left_window = its last known time lies outside the window, which rolled past it: the event still exists and its row keeps its last known state and attendees. NULL while live, or when the row was retired for another reason (its user left the tenant).';
COMMENT ON COLUMN calendar_events.deleted_at IS 'When graphsync learnt the event left the synced view (see removed_reason); NULL while it is live in the window.';
COMMENT ON COLUMN calendar_events.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN calendar_events.seen_at IS 'When a full enumeration last saw the row (used to retire rows a full round, such as a window roll, no longer sees).';

COMMENT ON TABLE calendar_event_attendees IS 'Attendees of calendar events, replaced whenever their event changes; removed with an event that was deleted, kept with one that left the window. Occurrences, which calendarView/delta sends without attendees, get their series master''s.';
COMMENT ON COLUMN calendar_event_attendees.connection_id IS 'The connection the event was synced through.';
COMMENT ON COLUMN calendar_event_attendees.event_id IS 'Graph id of the event (calendar_events.id).';
COMMENT ON COLUMN calendar_event_attendees.ordinal IS 'Position in the event''s attendees list, from 0.';
COMMENT ON COLUMN calendar_event_attendees.address IS 'Attendee e-mail address, lower-cased.';
COMMENT ON COLUMN calendar_event_attendees.name IS 'Attendee display name.';
COMMENT ON COLUMN calendar_event_attendees.type IS 'required, optional or resource.';
COMMENT ON COLUMN calendar_event_attendees.response IS 'The attendee''s answer (status.response): none, accepted, declined, tentativelyAccepted, notResponded or organizer.';
COMMENT ON COLUMN calendar_event_attendees.response_at IS 'When the attendee answered (status.time); NULL when Graph sends no time (0001-01-01).';

COMMENT ON COLUMN sync_state.window_start IS 'For windowed streams (calendarView): start of the window the delta token was issued for.';
COMMENT ON COLUMN sync_state.window_end IS 'For windowed streams (calendarView): end of the window the delta token was issued for.';
