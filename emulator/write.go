package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// writeRoutes are the write operations served, by method and route
// pattern; every other method is refused as before.
var writeRoutes = map[string]func(*call){
	http.MethodPatch + " users/{u}/messages/{m}":                 (*call).patchMessage,
	http.MethodPatch + " users/{u}/mailFolders/{f}/messages/{m}": (*call).patchMessage,
}

// writeScopes are what a write needs: Mail.ReadWrite, delegated or
// application (learn.microsoft.com/graph/api/message-update).
var writeScopes = route{scopes: []string{"Mail.ReadWrite", "Mail.ReadWrite.Shared"}, roles: []string{"Mail.ReadWrite"}}

// patchableMessage lists the message properties PATCH changes here: those
// of a received message Microsoft documents as updatable (the others are
// updatable on drafts only).
var patchableMessage = []string{"isRead", "categories", "flag", "importance", "inferenceClassification",
	"isReadReceiptRequested", "isDeliveryReceiptRequested"}

// patchMessage updates a message's properties, as a delta round then
// reports it, and answers 200 with the updated message.
func (c *call) patchMessage() {
	rt := writeScopes
	rt.pattern = c.route
	if !c.authorized(rt) {
		return
	}
	var in map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&in); err != nil {
		c.fail(http.StatusBadRequest, "RequestBodyRead", "Unable to read JSON request payload: "+err.Error())
		return
	}
	for k := range in {
		if !slices.Contains(patchableMessage, k) {
			c.fail(http.StatusBadRequest, "ErrorInvalidPropertyRequest", fmt.Sprintf("The property '%s' cannot be updated here; the emulator updates %s.", k, strings.Join(patchableMessage, ", ")))
			return
		}
	}
	em := c.em
	em.mu.Lock()
	mb := c.user.mail
	m := mb.msgs[c.args["m"]]
	if m == nil {
		m = mb.byMsgID[c.args["m"]]
	}
	if m == nil {
		em.mu.Unlock()
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	var props []string
	for _, k := range patchableMessage {
		raw, ok := in[k]
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			em.mu.Unlock()
			c.fail(http.StatusBadRequest, "RequestBodyRead", "Unable to read JSON request payload: "+err.Error())
			return
		}
		if k == "isRead" {
			read, ok := v.(bool)
			if !ok {
				em.mu.Unlock()
				c.fail(http.StatusBadRequest, "RequestBodyRead", "Cannot convert the literal to the expected type 'Edm.Boolean'.")
				return
			}
			m.read = read
		}
		m.e.obj.set(k, v)
		props = append(props, k)
	}
	ver := em.nextVersion()
	em.touchMessage(m)
	m.f.msgs.update(ver, m.e, append(props, "lastModifiedDateTime", "changeKey")...)
	em.refreshFolder(c.user, m.f, ver)
	b, off, end := m.e.obj.encode(nil, nil)
	out := appendWithID(nil, b, off, end, m.e.servedID(c.imm), m.e.id)
	em.mu.Unlock()
	c.writeJSON(withContext(out, c.context("users('"+c.user.id+"')/messages/$entity")))
}
