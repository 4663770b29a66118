package graphsync

import (
	"net/url"
	"strings"
)

// Target is what a Graph request path addresses, for requests graphsync
// forwards without having built them (the app API's proxy): the service
// that throttles it, the mailbox or user it is about, and the synced
// resource it reads or changes.
type Target struct {
	Service Service
	// User is the user segment of /users/{user}/..., unescaped; empty for
	// /me and for paths about no user.
	User string
	// Me says the path starts with /me: the signed-in user.
	Me bool
	// Resource is the synced resource the path is in; nil for none.
	Resource *Resource
}

// collections maps the segment after a user to its service and resource,
// as Microsoft's throttling limits group them
// (learn.microsoft.com/graph/throttling-limits).
var collections = map[string]struct {
	service  Service
	resource *Resource
}{
	"messages":                {Outlook, Mail},
	"mailfolders":             {Outlook, Mail},
	"sendmail":                {Outlook, Mail},
	"mailboxsettings":         {Outlook, nil},
	"inferenceclassification": {Outlook, nil},
	"outlook":                 {Outlook, nil},
	"events":                  {Outlook, Calendar},
	"calendar":                {Outlook, Calendar},
	"calendars":               {Outlook, Calendar},
	"calendarview":            {Outlook, Calendar},
	"calendargroups":          {Outlook, Calendar},
	"contacts":                {Outlook, Contacts},
	"contactfolders":          {Outlook, Contacts},
	"people":                  {Insights, People},
	"drive":                   {OneDrive, Drive},
	"drives":                  {OneDrive, Drive},
	"followedsites":           {OneDrive, nil},
	"chats":                   {Teams, Chats},
	"joinedteams":             {Teams, nil},
	"teamwork":                {Teams, nil},
	"onlinemeetings":          {Teams, nil},
	"presence":                {Teams, nil},
	"insights":                {Insights, nil},
	"planner":                 {Directory, nil},
	"memberof":                {Directory, nil},
	"transitivememberof":      {Directory, nil},
	"manager":                 {Directory, nil},
	"directreports":           {Directory, nil},
	"photo":                   {Directory, nil},
	"licensedetails":          {Directory, nil},
	"authentication":          {Directory, nil},
	"todo":                    {Directory, nil},
	"approleassignments":      {Directory, nil},
	"oauth2permissiongrants":  {Directory, nil},
	"registereddevices":       {Directory, nil},
	"owneddevices":            {Directory, nil},
	"ownedobjects":            {Directory, nil},
	"createdobjects":          {Directory, nil},
	"settings":                {Directory, nil},
	"extensions":              {Directory, nil},
	"activities":              {Directory, nil},
	"onenote":                 {Directory, nil},
	"employeeexperience":      {Directory, nil},
}

// tenantCollections maps a path's first segment, when it names no user, to
// its service and resource.
var tenantCollections = map[string]struct {
	service  Service
	resource *Resource
}{
	"drives": {OneDrive, Drive},
	"sites":  {OneDrive, nil},
	"shares": {OneDrive, nil},
	"chats":  {Teams, Chats},
	"teams":  {Teams, nil},
	"users":  {Directory, nil},
}

// TargetOf reads what a Graph path (without the version: /me/messages,
// users/{id}/events/...) addresses. Paths it does not know are the
// directory's, as /me and /users are.
func TargetOf(path string) Target {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	t := Target{Service: Directory}
	rest := segs
	switch {
	case strings.EqualFold(segs[0], "me"):
		t.Me, rest = true, segs[1:]
	case strings.EqualFold(segs[0], "users") && len(segs) >= 2:
		t.User, _ = url.PathUnescape(segs[1])
		rest = segs[2:]
	default:
		if c, ok := tenantCollections[strings.ToLower(segs[0])]; ok {
			t.Service, t.Resource = c.service, c.resource
		}
		return t
	}
	if len(rest) == 0 {
		return t
	}
	first := strings.ToLower(rest[0])
	// Strip an OData key or function call: messages('id'), delta().
	if i := strings.IndexByte(first, '('); i > 0 {
		first = first[:i]
	}
	if c, ok := collections[first]; ok {
		t.Service, t.Resource = c.service, c.resource
	}
	return t
}
