package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveTruth streams the ground truth of one user's resource as a JSON
// array, object by object, so that a mailbox of 10,000 messages is never
// held whole; ?select=a,b keeps only those properties (and id) of stored
// objects, and ?idType=ImmutableId serves immutable ids.
func (em *Emulator) serveTruth(w http.ResponseWriter, r *http.Request, userID, resource string) {
	imm := strings.EqualFold(r.URL.Query().Get("idType"), "ImmutableId")
	var keep func(string) bool
	if sel := r.URL.Query().Get("select"); sel != "" {
		fields := map[string]bool{}
		for _, f := range strings.Split(sel, ",") {
			fields[strings.ToLower(strings.TrimSpace(f))] = true
		}
		keep = func(k string) bool { return fields[k] }
	}
	started := false
	err := em.eachTruth(userID, resource, imm, keep, func(raw json.RawMessage) error {
		sep := []byte{','}
		if !started {
			w.Header().Set("Content-Type", "application/json")
			started, sep = true, []byte{'['}
		}
		if _, err := w.Write(sep); err != nil {
			return err
		}
		_, err := w.Write(raw)
		return err
	})
	switch {
	case err != nil && !started:
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		// The client sees a truncated array.
	case !started:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]\n"))
	default:
		_, _ = w.Write([]byte("]\n"))
	}
}

// serveControl serves the /_emulator/ control plane, mirroring the Go
// methods for tests running in other processes. It is unauthenticated:
// the emulator listens on loopback only.
func (em *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	p := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_emulator/"), "/"), "/")
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	bad := func(status int, err error) { http.Error(w, err.Error(), status) }
	decode := func(v any) bool {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(b) > 0 {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			bad(http.StatusBadRequest, fmt.Errorf("decode body: %w", err))
			return false
		}
		return true
	}
	post := r.Method == http.MethodPost || r.Method == http.MethodPut
	// added answers an Add… method with its id, done a method without
	// one (204), removed a Remove… one; errors are 400, 400 and 404.
	added := func(id string, err error) {
		if err != nil {
			bad(http.StatusBadRequest, err)
			return
		}
		reply(map[string]string{"id": id})
	}
	done := func(status int, err error) {
		if err != nil {
			bad(status, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	if em.serveNotificationControl(w, r, p) { // change notifications (notify_control.go)
		return
	}
	switch {
	case p[0] == "users" && r.Method == http.MethodGet:
		reply(em.Users())
	case p[0] == "tenant" && r.Method == http.MethodGet:
		reply(map[string]any{"tenantId": em.cfg.TenantID, "apps": em.Apps()})
	case p[0] == "truth" && len(p) == 3 && r.Method == http.MethodGet:
		em.serveTruth(w, r, p[1], p[2])
	case p[0] == "truth" && len(p) == 4 && p[3] == "deleted" && r.Method == http.MethodGet:
		out, err := em.deletedTruth(p[1], p[2], strings.EqualFold(r.URL.Query().Get("idType"), "ImmutableId"), r.URL.Query().Get("reader"))
		if err != nil {
			bad(http.StatusNotFound, err)
			return
		}
		reply(out)
	case p[0] == "mutate" && post:
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			bad(http.StatusBadRequest, fmt.Errorf("mutate: query parameter n must be a non-negative integer"))
			return
		}
		reply(map[string]any{"applied": em.Mutate(n)})
	case p[0] == "mutations" && len(p) == 2 && p[1] == "start" && post:
		rate, err := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
		if err != nil || rate <= 0 {
			bad(http.StatusBadRequest, fmt.Errorf("mutations: query parameter rate must be a positive number"))
			return
		}
		em.StartMutations(rate)
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "mutations" && len(p) == 2 && p[1] == "stop" && post:
		em.StopMutations()
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "faults" && post:
		var f Faults
		if decode(&f) {
			if err := em.SetFaults(f); err != nil {
				bad(http.StatusBadRequest, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	case p[0] == "throttle" && post:
		var t Throttle
		if decode(&t) {
			em.SetThrottle(t)
			w.WriteHeader(http.StatusNoContent)
		}
	case p[0] == "expire-delta-tokens" && post:
		em.ExpireDeltaTokens()
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "revoke-grant" && len(p) == 2 && post:
		em.RevokeGrant(p[1])
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "remove-consent" && len(p) == 2 && post:
		em.RemoveConsent(p[1])
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "expire-client-secret" && len(p) == 2 && post:
		if err := em.ExpireClientSecret(p[1]); err != nil {
			bad(http.StatusNotFound, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "inject" && len(p) == 3 && post:
		// The body is the item itself, served verbatim: it may be any bytes.
		b, err := io.ReadAll(io.LimitReader(r.Body, maxInjectBytes+1))
		if err == nil && len(b) > maxInjectBytes {
			err = fmt.Errorf("larger than %d bytes", maxInjectBytes)
		}
		if err == nil {
			err = em.InjectRaw(p[1], p[2], b)
		}
		if err != nil {
			bad(http.StatusBadRequest, fmt.Errorf("inject: %w", err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "inject-control-char" && len(p) == 3 && post:
		id, err := em.InjectControlCharMessage(p[1], p[2])
		if err != nil {
			bad(http.StatusBadRequest, fmt.Errorf("inject-control-char: %w", err))
			return
		}
		reply(map[string]string{"id": id})
	case p[0] == "inject-large" && len(p) == 3 && post:
		n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
		size, err2 := strconv.Atoi(r.URL.Query().Get("bytes"))
		if err1 != nil || err2 != nil {
			bad(http.StatusBadRequest, fmt.Errorf("inject-large: query parameters n and bytes must be integers"))
			return
		}
		ids, err := em.InjectLargeMessages(p[1], p[2], n, size)
		if err != nil {
			bad(http.StatusBadRequest, fmt.Errorf("inject-large: %w", err))
			return
		}
		reply(map[string][]string{"ids": ids})
	case p[0] == "shares" && len(p) == 1 && r.Method == http.MethodGet:
		reply(em.MailboxShares())
	case p[0] == "shares" && len(p) == 1 && post:
		var s MailboxShare
		if decode(&s) {
			done(http.StatusBadRequest, em.ShareMailbox(s))
		}
	case p[0] == "shares" && len(p) == 3 && r.Method == http.MethodDelete:
		done(http.StatusNotFound, em.UnshareMailbox(p[1], p[2]))
	case p[0] == "apps" && len(p) == 3 && p[2] == "certificates" && post:
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = em.AddCertificate(p[1], b)
		}
		done(http.StatusBadRequest, err)
	case p[0] == "sites" && len(p) == 1 && r.Method == http.MethodGet:
		reply(em.Sites())
	case p[0] == "permissions" && len(p) == 3 && post:
		var spec PermissionSpec
		if decode(&spec) {
			added(em.AddPermission(p[1], p[2], spec))
		}
	case p[0] == "permissions" && len(p) == 4 && r.Method == http.MethodDelete:
		done(http.StatusNotFound, em.RemovePermission(p[1], p[2], p[3]))
	case p[0] == "permissions" && len(p) == 3 && r.Method == http.MethodDelete:
		done(http.StatusNotFound, em.RestoreInheritance(p[1], p[2]))
	case p[0] == "driveItems" && len(p) == 3 && r.Method == http.MethodDelete:
		done(http.StatusNotFound, em.DeleteDriveItem(p[1], p[2]))
	case p[0] == "attachments" && len(p) == 3 && post:
		var spec AttachmentSpec
		if decode(&spec) {
			added(em.AddAttachment(p[1], p[2], spec))
		}
	case p[0] == "attachments" && len(p) == 4 && r.Method == http.MethodDelete:
		done(http.StatusNotFound, em.RemoveAttachment(p[1], p[2], p[3]))
	case p[0] == "rates" && r.Method == http.MethodGet:
		q := r.URL.Query()
		window, err := time.ParseDuration(q.Get("window"))
		if err != nil {
			bad(http.StatusBadRequest, fmt.Errorf("rates: query parameter window must be a duration such as 1s or 1m"))
			return
		}
		n, err := em.MaxRequestsInWindow(q.Get("service"), q.Get("tenant"), window)
		if err != nil {
			bad(http.StatusBadRequest, err)
			return
		}
		ru, _ := em.MaxResourceUnitsInWindow(q.Get("service"), q.Get("tenant"), window)
		reply(map[string]int{"maxRequests": n, "maxResourceUnits": ru})
	case p[0] == "counters" && r.Method == http.MethodGet:
		reply(em.Counters())
	case p[0] == "counters" && r.Method == http.MethodDelete:
		em.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	case p[0] == "secrets" && r.Method == http.MethodGet:
		reply(em.IssuedSecrets())
	default:
		bad(http.StatusNotFound, fmt.Errorf("no control route %s %s", r.Method, r.URL.Path))
	}
}
