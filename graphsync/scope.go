package graphsync

import (
	"fmt"
	"strconv"
	"strings"
)

// Service names the Graph workload a request goes to; each throttles on its
// own terms (learn.microsoft.com/graph/throttling-limits).
type Service int

const (
	Outlook   Service = iota // mail, calendar, contacts: per app per mailbox
	Insights                 // People: per app per mailbox
	Teams                    // per app per tenant, requests per second
	OneDrive                 // OneDrive and SharePoint: per app per tenant, resource units per minute
	Directory                // users, groups, /me: per app per tenant
)

var serviceNames = []string{Outlook: "outlook", Insights: "people", Teams: "teams", OneDrive: "onedrive", Directory: "directory"}

// Services lists every service, for metric labels and tests.
var Services = []Service{Outlook, Insights, Teams, OneDrive, Directory}

func (s Service) String() string {
	if int(s) >= 0 && int(s) < len(serviceNames) {
		return serviceNames[s]
	}
	return "service(" + strconv.Itoa(int(s)) + ")"
}

// ParseService reads a Service from its String.
func ParseService(name string) (Service, error) {
	for i, n := range serviceNames {
		if n == name {
			return Service(i), nil
		}
	}
	return 0, fmt.Errorf("unknown Graph service %q", name)
}

// PerMailbox reports whether Microsoft limits the service per app and
// mailbox (Outlook, People) rather than per app and tenant.
func (s Service) PerMailbox() bool { return s == Outlook || s == Insights }

// Scope is what one Graph throttling limit applies to: a mailbox, whose
// Outlook budget mail, calendar, contacts and People share, or one service
// of a tenant. Retry-After windows and request budgets are kept per Scope,
// in each process and in the database.
type Scope struct {
	Tenant string
	// Mailbox is set for mailbox scopes; Service for tenant scopes.
	Mailbox string
	Service Service
}

// ScopeOf returns the scope a request of service for mailbox in tenant
// counts against.
func ScopeOf(service Service, tenant, mailbox string) Scope {
	if service.PerMailbox() {
		return Scope{Tenant: tenant, Mailbox: mailbox, Service: Outlook}
	}
	return Scope{Tenant: tenant, Service: service}
}

// IsMailbox reports whether s is a mailbox's scope.
func (s Scope) IsMailbox() bool { return s.Mailbox != "" }

// IsZero reports whether s names nothing: a request without a tenant or
// mailbox is not throttled locally.
func (s Scope) IsZero() bool { return s.Tenant == "" && s.Mailbox == "" }

// String is the scope's one text form, stored in throttle_windows.scope:
// "mailbox:<tenant>/<mailbox>" or "tenant:<tenant>/<service>".
func (s Scope) String() string {
	if s.IsMailbox() {
		return "mailbox:" + s.Tenant + "/" + s.Mailbox
	}
	return "tenant:" + s.Tenant + "/" + s.Service.String()
}

// ParseScope reads a Scope from its String.
func ParseScope(text string) (Scope, error) {
	kind, rest, ok := strings.Cut(text, ":")
	tenant, who, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || tenant == "" || who == "" {
		return Scope{}, fmt.Errorf("throttle scope %q: want mailbox:<tenant>/<mailbox> or tenant:<tenant>/<service>", text)
	}
	switch kind {
	case "mailbox":
		return Scope{Tenant: tenant, Mailbox: who}, nil
	case "tenant":
		svc, err := ParseService(who)
		if err != nil || svc.PerMailbox() {
			return Scope{}, fmt.Errorf("throttle scope %q: %q is not a tenant-wide service", text, who)
		}
		return Scope{Tenant: tenant, Service: svc}, nil
	}
	return Scope{}, fmt.Errorf("throttle scope %q: unknown kind %q", text, kind)
}

// Holds reports whether a window on s holds back the requests of the given
// user of tenant to service.
func (s Scope) Holds(service Service, tenant, mailbox string) bool {
	return s == ScopeOf(service, tenant, mailbox)
}
