package graphsync_test

import (
	"fmt"

	"github.com/graphsync/graphsync/graphsync"
)

// A resource is described once: its name, the service whose limits it
// counts against, its permissions and its tables.
func ExampleResource() {
	r := graphsync.Mail
	fmt.Println(r.Name(), r.Service(), r.Permission(false), r.Permission(true))
	for _, t := range r.Tables() {
		fmt.Println(t.Name, len(t.Columns), "columns")
	}
	// Output:
	// mail outlook Mail.Read Mail.Read
	// mail_folders 9 columns
	// mail_messages 27 columns
	// mail_attachments 12 columns
}

// ScopeOf decides what a throttling limit applies to: Outlook per mailbox,
// OneDrive per tenant.
func ExampleScopeOf() {
	fmt.Println(graphsync.ScopeOf(graphsync.Outlook, "contoso", "ada"))
	fmt.Println(graphsync.ScopeOf(graphsync.OneDrive, "contoso", "ada"))
	s, err := graphsync.ParseScope("tenant:contoso/teams")
	fmt.Println(s.Service, s.IsMailbox(), err)
	// Output:
	// mailbox:contoso/ada
	// tenant:contoso/onedrive
	// teams false <nil>
}

// A table maps an item from Graph to its row, one value per column.
func ExampleTable_Map() {
	t := graphsync.Mail.Items()
	raw := []byte(`{"id":"AAMk1","subject":"Quarterly numbers","receivedDateTime":"2026-11-30T08:00:00Z",
		"from":{"emailAddress":{"name":"Megan","address":"MeganB@Contoso.com"}},"isRead":false}`)
	row, err := t.Map(raw, graphsync.MapContext{User: "user-1", Container: "inbox"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, c := range t.Columns[:6] {
		fmt.Printf("%s=%v\n", c.Name, row.Values[i])
	}
	// Output:
	// id=AAMk1
	// user_id=user-1
	// folder_id=inbox
	// subject=Quarterly numbers
	// from_address=meganb@contoso.com
	// from_name=Megan
}

// A stream has one text form, for logs and the CLI, and parses back.
func ExampleStream() {
	s := graphsync.Stream{Connection: 7, User: "user-1", Resource: graphsync.Chats, Container: "19:abc@thread.v2"}
	fmt.Println(s)
	back, err := graphsync.ParseStream(s.String())
	fmt.Println(back == s, err)
	// Output:
	// 7/chats/"user-1"/"19:abc@thread.v2"
	// true <nil>
}
