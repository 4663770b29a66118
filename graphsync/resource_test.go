package graphsync_test

import (
	"slices"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
)

func TestDelegatedScopes(t *testing.T) {
	t.Parallel()
	got := graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail, graphsync.Calendar, graphsync.Mail, graphsync.Chats})
	want := []string{"offline_access", "openid", "profile", "User.Read", "Mail.Read", "Calendars.Read", "Chat.Read"}
	if !slices.Equal(got, want) {
		t.Fatalf("DelegatedScopes = %q, want %q", got, want)
	}
	for _, r := range graphsync.Resources {
		if r.Permission(false) == "" || r.Permission(true) == "" {
			t.Errorf("%s lacks a delegated or application permission", r)
		}
	}
	if got := graphsync.ApplicationPermissions([]*graphsync.Resource{graphsync.Chats}); !slices.Equal(got, []string{"User.Read.All", "Chat.Read.All"}) {
		t.Errorf("ApplicationPermissions(chats) = %q", got)
	}
}

func TestParseResources(t *testing.T) {
	t.Parallel()
	rs, err := graphsync.ParseResources("mail, drive,mail")
	if err != nil || !slices.Equal(rs, []*graphsync.Resource{graphsync.Mail, graphsync.Drive}) {
		t.Fatalf("ParseResources = %v, %v", rs, err)
	}
	for _, bad := range []string{"", "mail,nonsense", "users"} {
		if _, err := graphsync.ParseResources(bad); err == nil {
			t.Errorf("ParseResources(%q) accepted", bad)
		}
	}
	if r, err := graphsync.ParseResource("users"); err != nil || r != graphsync.Users {
		t.Errorf("ParseResource(users) = %v, %v", r, err)
	}
}

// TestTablesMapToTheirColumns maps a minimal item of every table and checks
// the row has exactly one value per declared column: a column added to the
// list but not to the mapping (or the reverse) fails here, not in
// PostgreSQL.
func TestTablesMapToTheirColumns(t *testing.T) {
	t.Parallel()
	samples := map[string]string{
		"mail_folders":  `{"id":"f","displayName":"Inbox","parentFolderId":"root"}`,
		"mail_messages": `{"id":"m","receivedDateTime":"2024-01-02T03:04:05Z","from":{"emailAddress":{"address":"A@B"}}}`,
		"mail_attachments": `{"@odata.type":"#microsoft.graph.itemAttachment","id":"a","name":"x","size":12,` +
			`"item":{"@odata.type":"#microsoft.graph.event","id":""}}`,
		"calendar_events":  `{"id":"e","type":"singleInstance","start":{"dateTime":"2024-01-02T03:04:05","timeZone":"UTC"},"attendees":[{"type":"required","emailAddress":{"address":"x@y"}}]}`,
		"contact_folders":  `{"id":"cf","displayName":"Friends","parentFolderId":"p"}`,
		"contacts":         `{"id":"c","createdDateTime":"2024-01-02T03:04:05Z","emailAddresses":[{"address":" A@B "}]}`,
		"drive_items":      `{"id":"d","name":"a","root":{},"parentReference":{"driveId":"b!x"}}`,
		"chats":            `{"id":"19:x","members":[{"id":"mm","userId":"u","email":"U@X"}]}`,
		"chat_messages":    `{"id":"1","from":{"user":{"id":"u"}},"body":{"contentType":"html","content":"x"}}`,
		"people":           `{"id":"p","personType":{"class":"Person"}}`,
		"directory_users":  `{"id":"u","userPrincipalName":"u@x"}`,
		"teams":            `{"id":"t","displayName":"T","isArchived":false}`,
		"channels":         `{"id":"19:c@thread.tacv2","displayName":"General","membershipType":"standard"}`,
		"sites":            `{"id":"contoso.sharepoint.com,a,b","displayName":"Sales","root":{},"siteCollection":{"hostname":"contoso.sharepoint.com"}}`,
		"site_drives":      `{"id":"b!x","name":"Documents","driveType":"documentLibrary","owner":{"group":{"displayName":"Sales Owners"}}}`,
		"channel_messages": `{"id":"2","replyToId":"1","channelIdentity":{"teamId":"t","channelId":"c1"},"body":{"content":"x"}}`,
		"groups":           `{"id":"g","displayName":"G","groupTypes":["Unified"],"mailEnabled":true,"createdDateTime":"2024-01-02T03:04:05Z"}`,
	}
	for _, tb := range graphsync.Tables() {
		if tb.Map == nil {
			if tb.Columns == nil {
				t.Errorf("%s has no columns", tb.Name)
			}
			continue // a child table: its parent maps its rows
		}
		raw, ok := samples[tb.Name]
		if !ok {
			t.Errorf("no sample for %s", tb.Name)
			continue
		}
		row, err := tb.Map([]byte(raw), graphsync.MapContext{User: "u1", Container: "c1", Position: 1})
		if err != nil {
			t.Errorf("%s: %v", tb.Name, err)
			continue
		}
		if len(row.Values) != len(tb.Columns) {
			t.Errorf("%s: %d values for %d columns", tb.Name, len(row.Values), len(tb.Columns))
		}
		for i, k := range tb.KeyColumns() {
			if tb.Columns[i].Name != k {
				t.Errorf("%s: column %d is %s, want key column %s first", tb.Name, i, tb.Columns[i].Name, k)
			}
		}
		for _, child := range row.Children {
			if len(child) != len(tb.Child.Columns) {
				t.Errorf("%s: child row of %d values for %d columns", tb.Name, len(child), len(tb.Child.Columns))
			}
		}
	}
}

func TestScopeOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		service graphsync.Service
		want    string
	}{
		{graphsync.Outlook, "mailbox:T/U"},
		{graphsync.Insights, "mailbox:T/U"},
		{graphsync.Teams, "tenant:T/teams"},
		{graphsync.OneDrive, "tenant:T/onedrive"},
		{graphsync.Directory, "tenant:T/directory"},
	} {
		s := graphsync.ScopeOf(tt.service, "T", "U")
		if s.String() != tt.want {
			t.Errorf("ScopeOf(%s) = %s, want %s", tt.service, s, tt.want)
		}
		back, err := graphsync.ParseScope(s.String())
		if err != nil || back != s {
			t.Errorf("ParseScope(%s) = %+v, %v; want %+v", s, back, err, s)
		}
	}
	for _, bad := range []string{"", "mailbox:", "mailbox:T/", "tenant:T/outlook", "tenant:T/nope", "bucket:T/U"} {
		if _, err := graphsync.ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) accepted", bad)
		}
	}
}

func TestStreamString(t *testing.T) {
	t.Parallel()
	for _, s := range []graphsync.Stream{
		{Connection: 7, User: "u1", Resource: graphsync.Mail, Container: "AAMk/x\"y"},
		{Connection: 7, User: "u1", Resource: graphsync.Chats, Container: "19:abc@thread.v2"},
		{Connection: 3, Resource: graphsync.Users},
		{Connection: 3, User: "u", Resource: graphsync.Drive, Container: "drives/b!x"},
	} {
		back, err := graphsync.ParseStream(s.String())
		if err != nil || back != s {
			t.Errorf("ParseStream(%s) = %+v, %v", s, back, err)
		}
	}
	for _, bad := range []string{"", "x/mail/\"u\"/\"\"", "1/nope/\"u\"/\"\"", "1/mail/u/\"\"", "1/mail/\"u\"/c"} {
		if _, err := graphsync.ParseStream(bad); err == nil {
			t.Errorf("ParseStream(%q) accepted", bad)
		}
	}
}
