package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// attachmentPage decodes an attachments list.
type attachmentPage struct {
	Value []map[string]json.RawMessage `json:"value"`
}

func (b *bundle) attachments(t *testing.T, tok, path string, hdr ...string) []map[string]json.RawMessage {
	t.Helper()
	resp, body := b.get(t, tok, path, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var p attachmentPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return p.Value
}

// streamSHA GETs a raw body and hashes it as it arrives.
func (b *bundle) streamSHA(t *testing.T, tok, path string) (*http.Response, string, int64) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, b.srv.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp, hex.EncodeToString(h.Sum(nil)), n
}

func num(t *testing.T, m map[string]json.RawMessage, k string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(string(m[k]), 10, 64)
	if err != nil {
		t.Fatalf("%s is not a number: %s", k, m[k])
	}
	return n
}

// Every message's attachments agree with hasAttachments, which leaves
// inline attachments out (learn.microsoft.com/graph/api/resources/message:
// "if a message contains only inline attachments, this property is
// false"); an inline image is named in the HTML body by its contentId.
// The list serves file attachments with contentBytes
// (api/message-list-attachments) and matches the ground truth.
func TestAttachmentsAgreeWithHasAttachments(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 21, Users: 1, MessagesPerUser: 90})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	truth := truthByID(t, must(b.srv.Truth(u.ID, "attachments")))
	msgs := must(b.srv.Truth(u.ID, "messages"))
	kinds := map[string]int{}
	inlineOnly, seen := 0, 0
	for _, raw := range msgs {
		var m struct {
			ID             string `json:"id"`
			HasAttachments bool   `json:"hasAttachments"`
			Body           struct{ Content string }
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		atts := b.attachments(t, tok, "/v1.0/users/"+u.ID+"/messages/"+m.ID+"/attachments")
		nonInline := 0
		for _, a := range atts {
			seen++
			kinds[str(a, "@odata.type")]++
			if string(a["isInline"]) == "false" {
				nonInline++
			} else if cid := str(a, "contentId"); cid == "" || !strings.Contains(m.Body.Content, "cid:"+cid) {
				t.Errorf("inline attachment %s (contentId %q) is not named in its message's body", str(a, "id"), cid)
			}
			id := str(a, "id")
			want, ok := truth[id]
			if !ok {
				t.Fatalf("attachment %s not in the ground truth", id)
			}
			if str(want, "@emulator.messageId") != m.ID {
				t.Errorf("truth puts %s on %s, not %s", id, str(want, "@emulator.messageId"), m.ID)
			}
			for k, v := range want {
				if !strings.HasPrefix(k, "@emulator.") && string(a[k]) != string(v) {
					t.Errorf("%s: %s is %s, truth %s", id, k, a[k], v)
				}
			}
			if str(a, "@odata.type") == "#microsoft.graph.fileAttachment" {
				content, err := base64.StdEncoding.DecodeString(str(a, "contentBytes"))
				if _, listed := a["contentBytes"]; listed && err != nil {
					t.Fatalf("contentBytes of %s: %v", id, err)
				}
				sum := sha256.Sum256(content)
				if n := num(t, want, "@emulator.contentLength"); n <= listContentLimit &&
					(int64(len(content)) != n || hex.EncodeToString(sum[:]) != str(want, "@emulator.contentSha256")) {
					t.Errorf("%s: contentBytes (%d bytes) differ from the truth's content (%d bytes)", id, len(content), n)
				}
			}
		}
		if m.HasAttachments != (nonInline > 0) {
			t.Errorf("message %s: hasAttachments %v with %d attachments not inline", m.ID, m.HasAttachments, nonInline)
		}
		if !m.HasAttachments && len(atts) > 0 {
			inlineOnly++
		}
	}
	if seen != len(truth) {
		t.Errorf("lists served %d attachments, the truth has %d", seen, len(truth))
	}
	for _, k := range []string{"#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment", "#microsoft.graph.referenceAttachment"} {
		if kinds[k] == 0 {
			t.Errorf("no %s generated: %v", k, kinds)
		}
	}
	if inlineOnly == 0 {
		t.Error("no message has only inline attachments; the hasAttachments rule is untested")
	}
}

// Raw contents: /$value serves a file's bytes with its content type, an
// item attachment's MIME (an event's iCalendar), and 405 for a reference
// attachment; $expand=microsoft.graph.itemattachment/item adds the item.
// https://learn.microsoft.com/graph/api/attachment-get
func TestAttachmentValueAndItems(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 22, Users: 2, MessagesPerUser: 120})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	done := map[string]bool{}
	for _, raw := range must(b.srv.Truth(u.ID, "attachments")) {
		var a map[string]json.RawMessage
		_ = json.Unmarshal(raw, &a)
		kind, id, msg := str(a, "@odata.type"), str(a, "id"), str(a, "@emulator.messageId")
		if done[kind] {
			continue
		}
		done[kind] = true
		base := "/v1.0/users/" + u.ID + "/messages/" + msg + "/attachments/" + id
		switch kind {
		case "#microsoft.graph.referenceAttachment":
			resp, body := b.get(t, tok, base+"/$value")
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("reference $value: %d %s", resp.StatusCode, body)
			}
			continue
		case "#microsoft.graph.itemAttachment":
			resp, body := b.get(t, tok, base+"?$expand=microsoft.graph.itemattachment/item")
			var got map[string]json.RawMessage
			if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
				t.Fatalf("expand item: %d %s", resp.StatusCode, body)
			}
			if string(got["contentType"]) != "null" || !strings.Contains(str(got, "item@odata.context"), "/microsoft.graph.itemAttachment/item/$entity") {
				t.Errorf("item attachment: %s", body)
			}
			var item map[string]json.RawMessage
			_ = json.Unmarshal(got["item"], &item)
			if !strings.HasPrefix(str(item, "@odata.type"), "#microsoft.graph.") || str(item, "subject") != str(a, "name") {
				t.Errorf("expanded item %s does not match the attachment %s", got["item"], raw)
			}
			resp, body = b.get(t, tok, base+"/$value")
			if resp.StatusCode != 200 || !(strings.HasPrefix(string(body), "From: ") || strings.HasPrefix(string(body), "BEGIN:VCALENDAR")) {
				t.Errorf("item $value: %d %.200s", resp.StatusCode, body)
			}
		}
		resp, sum, n := b.streamSHA(t, tok, base+"/$value")
		if resp.StatusCode != 200 || sum != str(a, "@emulator.contentSha256") || n != num(t, a, "@emulator.contentLength") {
			t.Errorf("%s $value: %d, %d bytes, sha %s; truth %s", kind, resp.StatusCode, n, sum, raw)
		}
		if kind == "#microsoft.graph.fileAttachment" && resp.Header.Get("Content-Type") != str(a, "contentType") {
			t.Errorf("$value Content-Type %q, contentType %q", resp.Header.Get("Content-Type"), str(a, "contentType"))
		}
		if size := num(t, a, "size"); size <= n {
			t.Errorf("size %d is not the stored size over the %d bytes of content", size, n)
		}
	}
	if len(done) != 3 {
		t.Fatalf("kinds exercised: %v", done)
	}
}

// $select on attachments takes the attachment type's properties and a
// derived type's by qualified name; an unqualified contentId is refused
// as Graph refuses it (microsoftgraph/microsoft-graph-explorer-v4#3916).
func TestAttachmentSelect(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 23, Users: 1, MessagesPerUser: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	var msg string
	for _, raw := range must(b.srv.Truth(u.ID, "attachments")) {
		var a map[string]json.RawMessage
		_ = json.Unmarshal(raw, &a)
		if str(a, "@odata.type") == "#microsoft.graph.fileAttachment" {
			msg = str(a, "@emulator.messageId")
			break
		}
	}
	base := "/v1.0/users/" + u.ID + "/messages/" + msg + "/attachments"
	resp, body := b.get(t, tok, base+"?$select=id,name,contentId")
	if code, msgText := graphErr(t, body); resp.StatusCode != 400 || code != "RequestBroker--ParseUri" || !strings.Contains(msgText, "'contentId'") {
		t.Errorf("unqualified contentId: %d %s", resp.StatusCode, body)
	}
	for _, a := range b.attachments(t, tok, base+"?$select=id,name,size,isInline,microsoft.graph.fileAttachment/contentId") {
		if _, ok := a["contentBytes"]; ok {
			t.Error("contentBytes served though not selected")
		}
		if _, ok := a["lastModifiedDateTime"]; ok {
			t.Error("lastModifiedDateTime served though not selected")
		}
		if _, ok := a["contentId"]; !ok && str(a, "@odata.type") == "#microsoft.graph.fileAttachment" {
			t.Error("selected contentId missing")
		}
	}
	if resp, body := b.get(t, tok, base+"?$expand=item"); resp.StatusCode != 400 {
		t.Errorf("$expand=item: %d %s", resp.StatusCode, body)
	}
}

// A file attachment over 100 MB: its metadata lists without contentBytes,
// /$value streams exactly its bytes with Content-Length, and a GET serves
// contentBytes all the same (outlook-large-attachments: "not technically
// limited by attachment size").
func TestLargeAttachment(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 24, Users: 1, MessagesPerUser: 10})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	var m struct{ ID string }
	_ = json.Unmarshal(must(b.srv.Truth(u.ID, "messages"))[0], &m)
	const size = 101 << 20
	id, err := b.srv.AddAttachment(u.ID, m.ID, AttachmentSpec{Name: "backup.zip", ContentType: "application/zip", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.AddAttachment(u.ID, m.ID, AttachmentSpec{Size: maxAttachment + 1}); err == nil {
		t.Error("an attachment over 150 MB was accepted")
	}
	var want map[string]json.RawMessage
	for _, raw := range must(b.srv.Truth(u.ID, "attachments")) {
		var a map[string]json.RawMessage
		_ = json.Unmarshal(raw, &a)
		if str(a, "id") == id {
			want = a
		}
	}
	if want == nil || num(t, want, "@emulator.contentLength") != size {
		t.Fatalf("truth lacks the large attachment: %v", want)
	}
	base := "/v1.0/users/" + u.ID + "/messages/" + m.ID + "/attachments"
	for _, a := range b.attachments(t, tok, base) {
		if str(a, "id") == id {
			if _, ok := a["contentBytes"]; ok {
				t.Error("the list carries contentBytes of 101 MB")
			}
		}
	}
	resp, sum, n := b.streamSHA(t, tok, base+"/"+id+"/$value")
	if resp.StatusCode != 200 || n != size || resp.ContentLength != size || sum != str(want, "@emulator.contentSha256") {
		t.Fatalf("$value: %d, %d bytes (Content-Length %d), sha %s; want %s", resp.StatusCode, n, resp.ContentLength, sum, want["@emulator.contentSha256"])
	}

	// Over the 4 MB a list serves, a GET still carries contentBytes.
	mid, err := b.srv.AddAttachment(u.ID, m.ID, AttachmentSpec{Name: "scan.pdf", ContentType: "application/pdf", Size: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := b.get(t, tok, base+"/"+mid)
	var got struct {
		ContentBytes string `json:"contentBytes"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("GET 5 MB attachment: %d", resp.StatusCode)
	}
	content, _ := base64.StdEncoding.DecodeString(got.ContentBytes)
	_, rawSum, _ := b.streamSHA(t, tok, base+"/"+mid+"/$value")
	if sum := sha256.Sum256(content); len(content) != 5<<20 || hex.EncodeToString(sum[:]) != rawSum || !bytes.HasPrefix(content, []byte("%PDF-")) {
		t.Errorf("contentBytes: %d bytes, not the $value", len(content))
	}
}

// Attachments follow their message: a move gives them new default ids
// (Outlook's default ids encode the folder) and keeps the immutable ones;
// a deleted message's attachments are gone (404). Adding and removing
// attachments updates hasAttachments and is reported by messages delta.
func TestAttachmentsFollowTheirMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 25, Users: 1, MessagesPerUser: 40})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	var m *message
	b.srv.mu.RLock()
	for _, k := range sortedKeys(b.srv.users[0].mail.msgs) {
		if x := b.srv.users[0].mail.msgs[k]; x.f.wellKnown == "inbox" && len(x.atts) == 0 {
			m = x
			break
		}
	}
	oldID := m.e.id
	b.srv.mu.RUnlock()
	imm := []string{"Prefer", `IdType="ImmutableId"`}
	link := b.syncRound(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages/delta?$select=hasAttachments", func(map[string]json.RawMessage) {})

	attID, err := b.srv.AddAttachment(u.ID, m.imm, AttachmentSpec{Name: "a.txt", ContentType: "text/plain", Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(attID, oldID) {
		t.Errorf("attachment id %s does not start with its message's id", attID)
	}
	var updated map[string]json.RawMessage
	link = b.syncRound(t, tok, link, func(it map[string]json.RawMessage) {
		if str(it, "id") == oldID {
			updated = it
		}
	})
	if string(updated["hasAttachments"]) != "true" {
		t.Fatalf("delta after AddAttachment: %v", updated)
	}
	immAtts := b.attachments(t, tok, "/v1.0/users/"+u.ID+"/messages/"+m.imm+"/attachments", imm...)
	if len(immAtts) != 1 || !strings.HasPrefix(str(immAtts[0], "id"), m.imm) {
		t.Fatalf("attachments with immutable ids: %v", immAtts)
	}
	immAttID := str(immAtts[0], "id")

	b.srv.mu.Lock()
	em := b.srv.Emulator
	em.moveMessage(em.users[0], em.nextVersion(), m, em.users[0].mail.folder("archive"))
	newID := m.e.id
	b.srv.mu.Unlock()
	if resp, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/messages/"+oldID+"/attachments"); resp.StatusCode != 404 {
		t.Errorf("attachments under the moved message's old id: %d", resp.StatusCode)
	}
	moved := b.attachments(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/archive/messages/"+newID+"/attachments")
	if len(moved) != 1 || !strings.HasPrefix(str(moved[0], "id"), newID) {
		t.Errorf("after the move: %v", moved)
	}
	if resp, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages/"+newID+"/attachments"); resp.StatusCode != 404 {
		t.Errorf("the message's attachments under a folder it is not in: %d", resp.StatusCode)
	}
	if got := b.attachments(t, tok, "/v1.0/users/"+u.ID+"/messages/"+m.imm+"/attachments", imm...); len(got) != 1 || str(got[0], "id") != immAttID {
		t.Errorf("immutable attachment id changed with the move: %v, was %s", got, immAttID)
	}

	if err := b.srv.RemoveAttachment(u.ID, newID, str(moved[0], "id")); err != nil {
		t.Fatal(err)
	}
	if resp, body := b.get(t, tok, "/v1.0/users/"+u.ID+"/messages/"+newID+"?$select=hasAttachments"); !strings.Contains(string(body), `"hasAttachments":false`) {
		t.Errorf("after RemoveAttachment: %d %s", resp.StatusCode, body)
	}

	b.srv.mu.Lock()
	em.deleteMessage(em.users[0], em.nextVersion(), m)
	b.srv.mu.Unlock()
	if resp, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/messages/"+newID+"/attachments"); resp.StatusCode != 404 {
		t.Errorf("attachments of a deleted message: %d", resp.StatusCode)
	}
	for _, raw := range must(b.srv.Truth(u.ID, "attachments")) {
		if strings.Contains(string(raw), newID) {
			t.Errorf("the truth keeps an attachment of the deleted message: %s", raw)
		}
	}
}

// Mutations add and remove attachments; the ground truth follows them and
// every message still agrees with hasAttachments.
func TestAttachmentMutations(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 26, Users: 2, MessagesPerUser: 30})
	kinds := map[string]int{}
	for i := 0; i < 40 && (kinds["attachment added"] == 0 || kinds["attachment removed"] == 0); i++ {
		for _, m := range b.srv.Mutate(100) {
			if f := strings.Fields(m); len(f) > 2 && f[0] == "attachment" {
				kinds[f[0]+" "+f[1]]++
			}
		}
	}
	if kinds["attachment added"] == 0 || kinds["attachment removed"] == 0 {
		t.Fatalf("mutations: %v", kinds)
	}
	b.srv.mu.RLock()
	defer b.srv.mu.RUnlock()
	for _, u := range b.srv.users {
		for _, m := range u.mail.msgs {
			has := false
			for _, a := range m.atts {
				has = has || !a.inline
			}
			if got := string(m.e.obj.get("hasAttachments")) == "true"; got != has {
				t.Errorf("message %s: hasAttachments %v, attachments %d", m.imm, got, len(m.atts))
			}
		}
	}
}

// Attachments need Mail.Read: Mail.ReadBasic leaves them out
// (api/attachment-get, "Permissions"). Messages of the lazy archive have
// attachments too, generated like the stored ones'. The control plane
// adds and removes attachments.
func TestAttachmentPermissionsLazyAndControl(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 27, Users: 1, MessagesPerUser: 5, LazyMessages: 300,
		Apps: []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}, Roles: []string{"Mail.ReadBasic.All"}},
			{ClientID: "full", Secret: "s", RedirectURIs: []string{defaultRedirect}}}})
	u := b.srv.Users()[0]
	basic := b.appToken(t)
	st, body := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", map[string][]string{"client_id": {"full"}, "client_secret": {"s"},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 200 {
		t.Fatal(body)
	}
	tok := jsonField(t, body, "access_token")
	var lazyAtt map[string]json.RawMessage
	for _, raw := range must(b.srv.Truth(u.ID, "attachments")) {
		var a map[string]json.RawMessage
		_ = json.Unmarshal(raw, &a)
		b.srv.mu.RLock()
		_, stored := b.srv.users[0].mail.byMsgID[str(a, "@emulator.messageId")]
		b.srv.mu.RUnlock()
		if !stored {
			lazyAtt = a
			break
		}
	}
	if lazyAtt == nil {
		t.Fatal("no lazy message has attachments")
	}
	path := "/v1.0/users/" + u.ID + "/messages/" + str(lazyAtt, "@emulator.messageId") + "/attachments"
	if resp, body := b.get(t, basic, path); resp.StatusCode != 403 {
		t.Errorf("Mail.ReadBasic.All: %d %s", resp.StatusCode, body)
	}
	got := b.attachments(t, tok, path+"?$select=id,name")
	found := false
	for _, a := range got {
		found = found || str(a, "id") == str(lazyAtt, "id")
	}
	if !found {
		t.Errorf("lazy message's attachments %v lack %s", got, str(lazyAtt, "id"))
	}
	if _, err := b.srv.AddAttachment(u.ID, str(lazyAtt, "@emulator.messageId"), AttachmentSpec{Size: 10}); err == nil {
		t.Error("a lazy message accepted an attachment")
	}

	var m struct{ ID string }
	b.srv.mu.RLock()
	for id := range b.srv.users[0].mail.byMsgID {
		m.ID = id
	}
	b.srv.mu.RUnlock()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL()+"/_emulator/attachments/"+u.ID+"/"+m.ID, strings.NewReader(`{"Kind":"item","Item":"event"}`))
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&added)
	resp.Body.Close()
	if resp.StatusCode != 200 || added.ID == "" {
		t.Fatalf("control plane add: %d", resp.StatusCode)
	}
	if r, body := b.get(t, tok, "/v1.0/users/"+u.ID+"/messages/"+m.ID+"/attachments/"+added.ID+"/$value"); r.StatusCode != 200 || !strings.HasPrefix(string(body), "BEGIN:VCALENDAR") {
		t.Errorf("added event attachment: %d %.100s", r.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodDelete, b.srv.URL()+"/_emulator/attachments/"+u.ID+"/"+m.ID+"/"+added.ID, nil)
	if resp, err := b.client.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("control plane remove: %v %v", resp, err)
	}
	if r, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/messages/"+m.ID+"/attachments/"+added.ID); r.StatusCode != 404 {
		t.Errorf("removed attachment: %d", r.StatusCode)
	}
}
