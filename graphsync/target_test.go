package graphsync_test

import (
	"testing"

	"github.com/graphsync/graphsync/graphsync"
)

// TestTargetOf reads the service, user and resource of the paths apps send
// through the proxy, as Microsoft's throttling limits group them.
func TestTargetOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path     string
		service  graphsync.Service
		user     string
		me       bool
		resource *graphsync.Resource
	}{
		{"me/messages/AAMk=", graphsync.Outlook, "", true, graphsync.Mail},
		{"/me/mailFolders('inbox')/messages", graphsync.Outlook, "", true, graphsync.Mail},
		{"users/adele%40contoso.com/events", graphsync.Outlook, "adele@contoso.com", false, graphsync.Calendar},
		{"users/0c0a/calendarView", graphsync.Outlook, "0c0a", false, graphsync.Calendar},
		{"Users/0c0a/Contacts", graphsync.Outlook, "0c0a", false, graphsync.Contacts},
		{"me/people", graphsync.Insights, "", true, graphsync.People},
		{"me/drive/root/children", graphsync.OneDrive, "", true, graphsync.Drive},
		{"drives/b!x/items/1", graphsync.OneDrive, "", false, graphsync.Drive},
		{"sites/root", graphsync.OneDrive, "", false, nil},
		{"chats/19:x/messages", graphsync.Teams, "", false, graphsync.Chats},
		{"me/chats", graphsync.Teams, "", true, graphsync.Chats},
		{"teams/x/channels", graphsync.Teams, "", false, nil},
		{"me", graphsync.Directory, "", true, nil},
		{"me/memberOf", graphsync.Directory, "", true, nil},
		{"users", graphsync.Directory, "", false, nil},
		{"groups/x/members", graphsync.Directory, "", false, nil},
		{"me/mailboxSettings", graphsync.Outlook, "", true, nil},
	}
	for _, c := range cases {
		got := graphsync.TargetOf(c.path)
		if got.Service != c.service || got.User != c.user || got.Me != c.me || got.Resource != c.resource {
			t.Errorf("TargetOf(%q) = %+v, want %v %q me=%v %v", c.path, got, c.service, c.user, c.me, c.resource)
		}
	}
}
