package connect_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/graphsync"
)

// The resources decide the scopes; extra scopes (Sites.Read.All for the
// SharePoint token) are added, and a mix the identity platform would refuse
// is refused before anyone signs in.
func TestFlowScopes(t *testing.T) {
	b := setup(t)
	f := b.flow(t, func(c *connect.Config) {
		c.Resources = []*graphsync.Resource{graphsync.Mail, graphsync.Calendar}
		c.ExtraScopes = []string{"Sites.Read.All"}
	})
	for _, want := range []string{"Mail.Read", "Calendars.Read", "offline_access", "Sites.Read.All"} {
		if !slices.Contains(f.Scopes(), want) {
			t.Errorf("scopes %v lack %s", f.Scopes(), want)
		}
	}
	if slices.Contains(f.Scopes(), "Files.Read.All") {
		t.Errorf("scopes %v ask for a resource that is not synced", f.Scopes())
	}
	if u := f.Begin(); !strings.Contains(u, "Sites.Read.All") {
		t.Errorf("authorize URL does not request Sites.Read.All: %s", u)
	}

	_, err := connect.New(connect.Config{Store: b.store, Auth: b.auth, Resources: []*graphsync.Resource{graphsync.Mail},
		ExtraScopes: []string{"https://contoso.sharepoint.com/AllSites.Read"}})
	if err == nil {
		t.Fatal("a SharePoint scope mixed with Graph scopes was accepted; the identity platform refuses one token for two resources")
	}

	app := b.flow(t, func(c *connect.Config) {
		c.Application = true
		c.Resources = []*graphsync.Resource{graphsync.Mail, graphsync.People}
	})
	for _, want := range []string{"User.Read.All", "Mail.Read", "People.Read.All"} {
		if !slices.Contains(app.Scopes(), want) {
			t.Errorf("application permissions %v lack %s", app.Scopes(), want)
		}
	}
	if u := app.Begin(); !strings.Contains(u, "/adminconsent?") {
		t.Errorf("application flow does not begin with admin consent: %s", u)
	}
}
