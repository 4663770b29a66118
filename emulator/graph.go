package emulator

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Services, for throttling and per-service error codes.
const (
	svcOutlook   = "outlook"
	svcDrive     = "drive"
	svcTeams     = "teams"
	svcDirectory = "directory"
)

// call is one Graph request being served.
type call struct {
	em          *Emulator
	w           http.ResponseWriter
	r           *http.Request
	reqID       string
	clientReqID string
	tok         *accessClaims
	route       string   // pattern, for counters
	seg         []string // path segments after /v1.0 with /me expanded
	args        map[string]string
	user        *userRec // the user the path names, if any
	svc         string
	imm         bool
	fnToken     string // delta(token='...') argument
	damaged     bool   // a fault cut, spoiled or abandoned the response
}

type route struct {
	pattern string
	svc     string
	scopes  []string // delegated, any of
	roles   []string // application, any of
	handle  func(*call)
}

var (
	mailScopes     = []string{"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"}
	mailRoles      = []string{"Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"}
	calScopes      = []string{"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared"}
	calRoles       = []string{"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"}
	contactScopes  = []string{"Contacts.Read", "Contacts.ReadWrite", "Contacts.Read.Shared", "Contacts.ReadWrite.Shared"}
	filesScopes    = []string{"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All"}
	filesRoles     = []string{"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"}
	chatScopes     = []string{"Chat.Read", "Chat.ReadWrite"}
	chatRoles      = []string{"Chat.Read.All", "Chat.ReadWrite.All"}
	chatListScopes = []string{"Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"}
	chatListRoles  = []string{"Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"}
	peopleScopes   = []string{"People.Read", "People.Read.All"}
	peopleRoles    = []string{"People.Read.All"}
	userScopes     = []string{"User.Read", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}
	usersScopes    = []string{"User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}
	usersRoles     = []string{"User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}
)

// defaultRoles are granted to apps registered without explicit Roles.
var defaultRoles = []string{"User.Read.All", "Mail.Read", "Calendars.Read", "Contacts.Read", "Files.Read.All",
	"Chat.Read.All", "People.Read.All", "Team.ReadBasic.All", "Channel.ReadBasic.All", "ChannelMessage.Read.All",
	"Sites.Read.All", "GroupMember.Read.All"}

var routes []route

func init() {
	routes = []route{
		{"users/{u}", svcDirectory, userScopes, usersRoles, (*call).getUser},
		{"users", svcDirectory, usersScopes, usersRoles, (*call).listUsers},
		{"users/delta", svcDirectory, usersScopes, usersRoles, (*call).usersDelta},
		{"users/{u}/mailFolders/delta", svcOutlook, mailScopes, mailRoles, (*call).mailFoldersDelta},
		{"users/{u}/mailFolders", svcOutlook, mailScopes, mailRoles, (*call).listMailFolders},
		{"users/{u}/mailFolders/{f}", svcOutlook, mailScopes, mailRoles, (*call).getMailFolder},
		{"users/{u}/mailFolders/{f}/childFolders", svcOutlook, mailScopes, mailRoles, (*call).listChildFolders},
		{"users/{u}/mailFolders/{f}/messages/delta", svcOutlook, mailScopes, mailRoles, (*call).messagesDelta},
		{"users/{u}/mailFolders/{f}/messages", svcOutlook, mailScopes, mailRoles, (*call).listFolderMessages},
		{"users/{u}/messages/{m}", svcOutlook, mailScopes, mailRoles, (*call).getMessage},
		{"users/{u}/mailFolders/{f}/messages/{m}", svcOutlook, mailScopes, mailRoles, (*call).getMessage},
	}
	routes = append(routes, otherRoutes()...)
	routes = append(routes, attachmentRoutes()...)
	routes = append(routes, teamRoutes()...)
	routes = append(routes, siteRoutes()...)
	routes = append(routes, groupRoutes()...)
}

// serveGraph runs the pipeline every Graph request goes through: ids,
// counters, faults, latency, authentication, routing, authorization,
// throttling, then the handler.
func (em *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	c := &call{em: em, r: r, reqID: newGUID(), clientReqID: r.Header.Get("client-request-id")}
	if c.clientReqID == "" {
		c.clientReqID = newGUID()
	}
	h := w.Header()
	h.Set("request-id", c.reqID)
	h.Set("client-request-id", c.clientReqID)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"GRAPHEMU","ADSiteName":"LO"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	// Requests are counted before their answer leaves: a client that reads
	// the counters once it has its answer must find the request counted.
	em.cnt.roundTrip()
	rec := &statusWriter{ResponseWriter: w, status: 200, answered: func(status int) { em.cnt.request(c.route, status) }}
	c.w = rec
	c.route = "unmatched"
	start := time.Now()
	defer func() {
		rec.answer(rec.status)
		if rec.status == http.StatusOK && !c.damaged && pageLink(r) {
			em.cnt.page(r.URL.EscapedPath() + "?" + r.URL.RawQuery)
		}
		em.cfg.Logger.DebugContext(r.Context(), "graph request", "method", r.Method, "route", c.route,
			"status", rec.status, "request_id", c.reqID, "duration", time.Since(start))
	}()
	c.imm = preferImmutable(r)

	if r.Method == http.MethodPost && (r.URL.Path == "/v1.0/$batch" || r.URL.Path == "/v1.0/%24batch") {
		c.route = "$batch"
		em.serveBatch(c)
		return
	}
	c.route = routeKey(r.URL.Path)
	if em.flt.apply(c, rec) || em.applyFixed(c, rec) {
		return
	}
	em.dispatch(c)
}

// dispatch authenticates, routes and runs one request; $batch reuses it.
func (em *Emulator) dispatch(c *call) {
	r := c.r
	if strings.HasPrefix(r.URL.Path, "/beta/") {
		c.fail(http.StatusBadRequest, "BadRequest", "The emulator serves only Microsoft Graph v1.0.")
		return
	}
	tok, msg := em.authenticate(r)
	if tok == nil {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+em.cloud().login+`/common/oauth2/authorize", client_id="`+graphAppID+`"`)
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	c.tok = tok
	if em.serveSubscriptions(c) { // change notifications (subscriptions.go)
		return
	}
	rt, ok := c.match(strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0"))
	if !ok {
		if c.seg == nil {
			return // match wrote the error
		}
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", lastSeg(c.seg)))
		return
	}
	c.route = rt.pattern
	c.svc = rt.svc
	handle := rt.handle
	if r.Method != http.MethodGet {
		if handle = writeRoutes[r.Method+" "+rt.pattern]; handle == nil {
			c.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "The emulator serves read operations, and the writes in write.go, only.")
			return
		}
	}
	if u, ok := c.args["u"]; ok {
		em.mu.RLock()
		c.user = em.lookupUser(u)
		em.mu.RUnlock()
		if c.user == nil {
			c.userNotFound(u)
			return
		}
	}
	if !c.authorized(rt) {
		return
	}
	release, ok := em.thr.admit(c)
	if !ok {
		return
	}
	release = sync.OnceFunc(release)
	defer release()
	c.w = &sentWriter{ResponseWriter: c.w, sent: release}
	// Latency models server work, so it is spent holding a concurrency slot.
	if err := em.sleepLatency(r); err != nil {
		return
	}
	handle(c)
}

func lastSeg(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func routeKey(p string) string {
	p = strings.TrimPrefix(p, "/v1.0/")
	if i := strings.Index(p, "("); i >= 0 {
		p = p[:i]
	}
	return p
}

// match splits the path into segments, expands /me, handles OData key
// syntax (mailFolders('id')) and function syntax (delta(token='...')), and
// finds the route.
func (c *call) match(escaped string) (route, bool) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(escaped, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		if i := strings.Index(u, "("); i > 0 && strings.HasSuffix(u, ")") {
			name, arg := u[:i], u[i+1:len(u)-1]
			if strings.EqualFold(name, "delta") {
				if k, v, ok := strings.Cut(arg, "="); ok && strings.EqualFold(strings.TrimSpace(k), "token") {
					c.fnToken = strings.Trim(strings.TrimSpace(v), "'")
				}
				segs = append(segs, "delta")
				continue
			}
			segs = append(segs, name, strings.Trim(arg, "'"))
			continue
		}
		if strings.EqualFold(u, "microsoft.graph.delta") {
			u = "delta"
		}
		segs = append(segs, u)
	}
	if len(segs) > 0 && strings.EqualFold(segs[0], "me") {
		if c.tok.app {
			c.seg = nil
			c.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return route{}, false
		}
		segs = append([]string{"users", c.tok.oid}, segs[1:]...)
	}
	segs = c.em.rewriteSitePath(segs)
	c.seg = segs
	for _, rt := range routes {
		ps := strings.Split(rt.pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		args := map[string]string{}
		ok := true
		for i, p := range ps {
			if strings.HasPrefix(p, "{") {
				if strings.EqualFold(segs[i], "delta") && i == len(ps)-1 {
					ok = false
					break
				}
				args[p[1:len(p)-1]] = segs[i]
				continue
			}
			if !strings.EqualFold(p, segs[i]) {
				ok = false
				break
			}
		}
		if ok {
			c.args = args
			return rt, true
		}
	}
	return route{}, false
}

// authorized checks the token's delegated scopes or application roles
// against the route, answering 403 in the service's documented style.
func (c *call) authorized(rt route) bool {
	have := c.tok.scp
	need := rt.scopes
	if c.tok.app {
		have, need = c.tok.roles, rt.roles
	}
	ok := false
	for _, n := range need {
		if hasFold(have, n) {
			ok = true
			break
		}
	}
	// A delegated token reads only its own user's Outlook data, and what
	// other users shared with its user (shares.go).
	if ok && !c.tok.app && c.user != nil && c.user.id != c.tok.oid {
		switch c.svc {
		case svcOutlook:
			ok = c.sharedAccess(rt)
		case svcDirectory:
			ok = hasFold(have, "User.ReadBasic.All") || hasFold(have, "User.Read.All") || hasFold(have, "Directory.Read.All")
		}
	}
	if ok {
		return true
	}
	switch c.svc {
	case svcOutlook:
		c.fail(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	case svcDrive:
		c.fail(http.StatusForbidden, "accessDenied", "Access denied")
	case svcTeams:
		kind, list := "scope", strings.Join(c.tok.scp, " ")
		if c.tok.app {
			kind, list = "role", strings.Join(c.tok.roles, ",")
		}
		c.fail(http.StatusForbidden, "Forbidden", fmt.Sprintf("Missing %s permissions on the request. API requires one of '%s'. Roles on the request '%s'. Scopes on the request '%s'.",
			kind, strings.Join(need, ", "), strings.Join(c.tok.roles, ","), list))
	default:
		c.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	return false
}

func hasFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// fail writes Graph's error shape.
func (c *call) fail(status int, code, msg string) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(graphErrorBody(code, msg, c.reqID, c.clientReqID, c.em.now()))
}

func graphErrorBody(code, msg, reqID, clientReqID string, now time.Time) any {
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError inner  `json:"innerError"`
	}
	return map[string]body{"error": {code, msg, inner{now.UTC().Format("2006-01-02T15:04:05"), reqID, clientReqID}}}
}

func (c *call) userNotFound(id string) {
	c.fail(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

// writeJSON writes a pre-encoded body.
func (c *call) writeJSON(b []byte) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(b)
}

func (c *call) base() string { return "http://" + c.r.Host + "/v1.0" }

func (c *call) context(suffix string) string {
	return "https://graph.microsoft.com/v1.0/$metadata#" + suffix
}

// query reads a query option, accepting it with or without the $ prefix and
// in any case, as Graph does.
func query(q url.Values, name string) (string, bool) {
	for k, v := range q {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), strings.TrimPrefix(name, "$")) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// maxPageSize parses Prefer: odata.maxpagesize=N; 0 when absent.
func maxPageSize(r *http.Request) int {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
				if err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

func preferImmutable(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "IdType") && strings.EqualFold(strings.Trim(strings.TrimSpace(val), `"`), "ImmutableId") {
				return true
			}
		}
	}
	return false
}

func preferValue(r *http.Request, name string) string {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// statusWriter remembers the status for counters and faults.
// statusWriter records a response's status, calling answered once with it
// before the response leaves (or once the handler returns without writing).
type statusWriter struct {
	http.ResponseWriter
	status   int
	wrote    bool
	answered func(status int)
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
		s.answer(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.wrote = true
		s.answer(s.status)
	}
	return s.ResponseWriter.Write(b)
}

// answer calls answered the first time only.
func (s *statusWriter) answer(status int) {
	if f := s.answered; f != nil {
		s.answered = nil
		f(status)
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writeEntity serves one object, encoded under em.mu with the request's
// $select, with @odata.context #ctx.
func (c *call) writeEntity(o func() object, ctx string) {
	c.em.mu.RLock()
	b, _, _ := o().encode(nil, selectKeep(c.r.URL.Query()))
	c.em.mu.RUnlock()
	c.writeJSON(withContext(b, c.context(ctx)))
}

// encodeAll encodes, with the request's $select, the objects objs makes
// under em.mu: the items of a listing.
func (c *call) encodeAll(objs func() []object) [][]byte {
	keep := selectKeep(c.r.URL.Query())
	c.em.mu.RLock()
	defer c.em.mu.RUnlock()
	var items [][]byte
	for _, o := range objs() {
		b, _, _ := o.encode(nil, keep)
		items = append(items, b)
	}
	return items
}

// objectsOf maps xs to objects, leaving out those f maps to nil.
func objectsOf[T any](xs []T, f func(T) object) []object {
	out := make([]object, 0, len(xs))
	for _, x := range xs {
		if o := f(x); o != nil {
			out = append(out, o)
		}
	}
	return out
}

// sentWriter calls sent before the write that completes a body of known
// length. Graph stops counting a request against the mailbox's concurrency
// once its answer is sent; the handler may still run a moment after, while
// the client, holding the whole answer, sends its next request.
type sentWriter struct {
	http.ResponseWriter
	sent    func()
	written int64
}

func (w *sentWriter) Write(p []byte) (int, error) {
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil && w.written+int64(len(p)) >= n {
		w.sent()
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *sentWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
