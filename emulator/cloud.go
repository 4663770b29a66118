package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// National clouds (learn.microsoft.com/graph/deployments): each has its
// own Microsoft Graph resource, sign-in host and SharePoint domain.
// Config.Cloud picks one; tokens are issued for its Graph resource.

type cloud struct {
	name       string
	graph      string // Graph's resource identifier (and service root)
	login      string // the identity platform's host
	sharePoint string // the tenant's SharePoint host; OneDrive is its -my twin
}

var clouds = []cloud{
	{"global", "https://graph.microsoft.com", "https://login.microsoftonline.com", "contoso.sharepoint.com"},
	{"usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us", "contoso.sharepoint.us"},
	{"usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us", "contoso.sharepoint-mil.us"},
	{"china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn", "contoso.sharepoint.cn"},
}

// graphAppID is Microsoft Graph's application id, the same in every cloud.
const graphAppID = "00000003-0000-0000-c000-000000000000"

func findCloud(name string) (cloud, bool) {
	if name == "" {
		name = "global"
	}
	i := slices.IndexFunc(clouds, func(c cloud) bool { return strings.EqualFold(c.name, name) })
	if i < 0 {
		return cloud{}, false
	}
	return clouds[i], true
}

func cloudNames() string {
	var n []string
	for _, c := range clouds {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

func (em *Emulator) cloud() cloud {
	c, _ := findCloud(em.cfg.Cloud)
	return c
}

// spHost and spMyHost are the tenant's SharePoint and OneDrive hosts.
func (em *Emulator) spHost() string   { return em.cloud().sharePoint }
func (em *Emulator) spMyHost() string { return strings.Replace(em.cloud().sharePoint, ".", "-my.", 1) }

// origin is the emulator's own origin as the request reached it: the
// Graph URL its client points at.
func origin(r *http.Request) string { return "http://" + r.Host }

// graphResourceOf reports whether res names Microsoft Graph: the cloud's
// Graph URL, Graph's application id, or the URL the client uses for Graph,
// which for the emulator is its own origin (a client that derives its
// scopes from its Graph URL asks for http://127.0.0.1:PORT/.default).
func (em *Emulator) graphResourceOf(res, own string) bool {
	res = strings.TrimSuffix(res, "/")
	return strings.EqualFold(res, em.cloud().graph) || strings.EqualFold(res, graphAppID) || (own != "" && strings.EqualFold(res, own))
}

// sharePointHosts are the tenant's SharePoint resources: its sites and its
// OneDrive (-my) host.
func (em *Emulator) sharePointHosts() []string {
	return []string{"https://" + em.spHost(), "https://" + em.spMyHost()}
}

func validCloud(name string) error {
	if _, ok := findCloud(name); !ok {
		return fmt.Errorf("config: Cloud %q is not one of %s", name, cloudNames())
	}
	return nil
}
