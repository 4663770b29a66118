package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

type person struct {
	obj object
}

type contactFolderState struct {
	id, name string
	col      *collection
}

// genPeople builds the relevance-ordered People list from colleagues and
// outside contacts.
func (em *Emulator) genPeople(u *userRec) {
	r := u.rng
	for i := 0; i < em.cfg.PeoplePerUser; i++ {
		o := object{}
		var name, given, sur, addr, upn string
		if i < len(em.users)-1 {
			other := em.users[(indexOf(em, u)+i+1)%len(em.users)]
			name, given, sur, addr, upn = other.name, other.given, other.surname, other.upn, other.upn
			o.set("id", other.id)
		} else {
			given, sur = pick(r, givenNames), pick(r, surnames)
			name = given + " " + sur
			addr = asciiFold(given) + "." + asciiFold(sur) + "@fabrikam.example"
			o.set("id", guidFrom(em.cfg.Seed, u.id+"person"+strconv.Itoa(i)))
		}
		o.set("displayName", name)
		o.set("givenName", given)
		o.set("surname", sur)
		o.set("birthday", "")
		o.set("personNotes", "")
		o.set("isFavorite", false)
		o.set("jobTitle", pick(r, jobTitles))
		o.set("companyName", nil)
		o.set("yomiCompany", "")
		o.set("department", pick(r, []string{"Sales", "R&D", "Finance", "Marketing"}))
		o.set("officeLocation", nil)
		o.set("profession", "")
		o.set("userPrincipalName", upn)
		o.set("imAddress", nilIfEmpty(upn))
		o.set("scoredEmailAddresses", []any{map[string]any{"address": addr, "relevanceScore": float64(30 - i), "selectionLikelihood": "notSpecified"}})
		o.set("phones", []any{map[string]string{"type": "business", "number": fmt.Sprintf("+1 425 555 %04d", r.IntN(10000))}})
		o.set("postalAddresses", []any{})
		o.set("websites", []any{})
		class := "OrganizationUser"
		if upn == "" {
			class = "PersonalContact"
		}
		o.set("personType", map[string]string{"class": "Person", "subclass": class})
		u.people = append(u.people, &person{obj: o})
	}
}

func indexOf(em *Emulator, u *userRec) int {
	for i, x := range em.users {
		if x == u {
			return i
		}
	}
	return 0
}

func (u *userRec) peopleTruth() []json.RawMessage {
	out := []json.RawMessage{}
	for _, p := range u.people {
		b, _, _ := p.obj.encode(nil, nil)
		out = append(out, b)
	}
	return out
}

// genContacts builds the default Contacts folder (well-known name
// "contacts") and two child folders.
func (em *Emulator) genContacts(u *userRec, ver uint64) {
	u.contactFolders = newCollection("#microsoft.graph.contactFolder")
	u.contacts = map[string]*collection{}
	defID := outlookID("AAMkAGC", em.hash64(u.id, "contacts"), 1)
	u.contacts[defID] = newCollection("#microsoft.graph.contact")
	var ids []string
	for _, name := range []string{"Friends", "Fournisseurs"} {
		id := outlookID("AAMkAGC", em.hash64(u.id, "contactfolder", name), 2)
		o := object{}
		o.set("@odata.type", "#microsoft.graph.contactFolder")
		o.set("id", id)
		o.set("displayName", name)
		o.set("parentFolderId", defID)
		u.contactFolders.add(ver, &entry{key: id, id: id, obj: o})
		u.contacts[id] = newCollection("#microsoft.graph.contact")
		ids = append(ids, id)
	}
	u.contacts["contacts"] = u.contacts[defID] // well-known alias
	for i := 0; i < em.cfg.ContactsPerUser; i++ {
		fid := defID
		if i%4 == 3 {
			fid = ids[i%2]
		}
		em.addContact(u, ver, fid)
	}
}

func (u *userRec) contactFolderList() []*collection {
	var out []*collection
	for _, k := range sortedKeys(u.contacts) {
		if k != "contacts" {
			out = append(out, u.contacts[k])
		}
	}
	return out
}

func (em *Emulator) addContact(u *userRec, ver uint64, folderID string) *entry {
	r := u.rng
	col := u.contacts[folderID]
	h := em.hash64(u.id, "contact", folderID, strconv.Itoa(len(col.entries)))
	given, sur := pick(r, givenNames), pick(r, surnames)
	id := outlookID("AAMkAGC", h, 3)
	ck := changeKey(h, 0)
	now := em.now().UTC().Format(graphTime)
	o := object{}
	o.set("@odata.type", "#microsoft.graph.contact")
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("id", id)
	o.set("createdDateTime", now)
	o.set("lastModifiedDateTime", now)
	o.set("changeKey", ck)
	o.set("categories", []string{})
	o.set("parentFolderId", folderID)
	o.set("birthday", nil)
	o.set("fileAs", sur+", "+given)
	o.set("displayName", given+" "+sur)
	o.set("givenName", given)
	o.set("initials", nil)
	o.set("middleName", nil)
	o.set("nickName", nil)
	o.set("surname", sur)
	o.set("title", nil)
	o.set("generation", nil)
	o.set("imAddresses", []string{})
	o.set("jobTitle", pick(r, jobTitles))
	o.set("companyName", pick(r, []string{"Fabrikam", "Northwind Traders", "Société Générale d'Exemple", "株式会社サンプル"}))
	o.set("department", nil)
	o.set("officeLocation", nil)
	o.set("profession", nil)
	o.set("businessHomePage", nil)
	o.set("assistantName", nil)
	o.set("manager", nil)
	o.set("homePhones", []string{})
	o.set("mobilePhone", fmt.Sprintf("+44 7700 9%05d", r.IntN(100000)))
	o.set("businessPhones", []string{fmt.Sprintf("+1 206 555 %04d", r.IntN(10000))})
	o.set("spouseName", nil)
	o.set("personalNotes", "")
	o.set("children", []string{})
	o.set("emailAddresses", []any{map[string]string{"name": given + " " + sur, "address": asciiFold(given) + "@fabrikam.example"}})
	o.set("homeAddress", map[string]any{})
	o.set("businessAddress", map[string]any{"street": "1 Main St", "city": "Redmond", "state": "WA", "countryOrRegion": "United States", "postalCode": "98052"})
	o.set("otherAddress", map[string]any{})
	return col.add(ver, &entry{key: id, id: id, immID: outlookID("AAkALgC", h, 0), obj: o, aux: &struct{ n int }{}})
}

func (em *Emulator) mutateContacts(u *userRec, r *rand.Rand, ver uint64) string {
	folders := u.contactFolderList()
	col := pick(r, folders)
	live := col.live()
	switch op := r.IntN(100); {
	case op < 40 || len(live) == 0:
		fid := ""
		for k, c := range u.contacts {
			if c == col && k != "contacts" {
				fid = k
			}
		}
		e := em.addContact(u, ver, fid)
		return "contact created " + e.id
	case op < 80:
		e := pick(r, live)
		e.obj.set("jobTitle", pick(r, jobTitles)+" (new)")
		e.obj.set("lastModifiedDateTime", em.now().UTC().Format(graphTime))
		ck := changeKey(em.hash64(e.id), int(ver))
		e.obj.set("changeKey", ck)
		e.obj.set("@odata.etag", `W/"`+ck+`"`)
		col.update(ver, e, "jobTitle", "lastModifiedDateTime", "changeKey")
		return "contact updated " + e.id
	case op < 90:
		e := pick(r, live)
		col.remove(ver, e)
		return "contact deleted " + e.id
	default:
		return em.mutateContactFolders(u, r, ver, op)
	}
}

// mutateContactFolders creates, renames or deletes a folder below the
// default Contacts folder (deleting its contacts with it). It draws from r
// no more than the contact deletion it stands in for.
func (em *Emulator) mutateContactFolders(u *userRec, r *rand.Rand, ver uint64, op int) string {
	children := u.contactFolders.live()
	switch {
	case op < 94 || len(children) == 0:
		defID := ""
		for k, c := range u.contacts {
			if k != "contacts" && c == u.contacts["contacts"] {
				defID = k
			}
		}
		name := "Folder " + strconv.FormatUint(ver, 10)
		id := outlookID("AAMkAGC", em.hash64(u.id, "contactfolder", name), 2)
		o := object{}
		o.set("@odata.type", "#microsoft.graph.contactFolder")
		o.set("id", id)
		o.set("displayName", name)
		o.set("parentFolderId", defID)
		u.contactFolders.add(ver, &entry{key: id, id: id, obj: o})
		u.contacts[id] = newCollection("#microsoft.graph.contact")
		return "contactFolder created " + id
	case op < 97:
		e := pick(r, children)
		e.obj.set("displayName", "Renamed "+strconv.FormatUint(ver, 10))
		u.contactFolders.update(ver, e, "displayName")
		return "contactFolder renamed " + e.id
	default:
		e := pick(r, children)
		u.contactFolders.remove(ver, e)
		if c := u.contacts[e.id]; c != nil {
			for _, ce := range c.live() {
				c.remove(ver, ce)
			}
			u.contactsGone = append(u.contactsGone, c)
		}
		delete(u.contacts, e.id)
		return "contactFolder deleted " + e.id
	}
}

// mutatePeople changes a user's People list as relevance does: two people
// swap ranks, someone new enters the list, someone drops out of it, or a
// listed person's job title changes. Relevance scores follow the ranks.
//
// It draws once from the shared mutation source, as it always has, and
// takes its further choices from a source seeded by that draw, so the other
// resources' mutation sequences for a seed stay as they were.
func (em *Emulator) mutatePeople(u *userRec, shared *rand.Rand) string {
	if len(u.people) < 2 {
		return "no-op"
	}
	i := 1 + shared.IntN(len(u.people)-1)
	r := rand.New(rand.NewPCG(em.hash64(u.id, "people", strconv.FormatUint(em.version, 10)), uint64(i)))
	var what string
	switch op := r.IntN(100); {
	case op < 40:
		u.people[i-1], u.people[i] = u.people[i], u.people[i-1]
		what = "people rank changed " + strconv.Itoa(i)
	case op < 65:
		given, sur := pick(r, givenNames), pick(r, surnames)
		o := object{}
		o.set("id", guidFrom(em.cfg.Seed, u.id+"person+"+strconv.FormatUint(r.Uint64(), 16)))
		o.set("displayName", given+" "+sur)
		o.set("givenName", given)
		o.set("surname", sur)
		o.set("birthday", "")
		o.set("personNotes", "")
		o.set("isFavorite", false)
		o.set("jobTitle", pick(r, jobTitles))
		o.set("companyName", nil)
		o.set("yomiCompany", "")
		o.set("department", pick(r, []string{"Sales", "R&D", "Finance", "Marketing"}))
		o.set("officeLocation", nil)
		o.set("profession", "")
		o.set("userPrincipalName", "")
		o.set("imAddress", nil)
		o.set("scoredEmailAddresses", []any{map[string]any{"address": asciiFold(given) + "." + asciiFold(sur) + "@fabrikam.example", "relevanceScore": 0.0, "selectionLikelihood": "notSpecified"}})
		o.set("phones", []any{map[string]string{"type": "business", "number": fmt.Sprintf("+1 425 555 %04d", r.IntN(10000))}})
		o.set("postalAddresses", []any{})
		o.set("websites", []any{})
		o.set("personType", map[string]string{"class": "Person", "subclass": "PersonalContact"})
		i = r.IntN(len(u.people) + 1)
		u.people = append(u.people[:i], append([]*person{{obj: o}}, u.people[i:]...)...)
		what = "person entered the list at " + strconv.Itoa(i)
	case op < 85:
		i = r.IntN(len(u.people))
		u.people = append(u.people[:i], u.people[i+1:]...)
		what = "person left the list at " + strconv.Itoa(i)
	default:
		i = r.IntN(len(u.people))
		u.people[i].obj.set("jobTitle", pick(r, jobTitles)+" (new)")
		what = "person changed at " + strconv.Itoa(i)
	}
	for j, p := range u.people {
		var sc []map[string]any
		_ = json.Unmarshal(p.obj.get("scoredEmailAddresses"), &sc)
		if len(sc) > 0 {
			sc[0]["relevanceScore"] = float64(30 - j)
			p.obj.set("scoredEmailAddresses", sc)
		}
	}
	return what
}

func (c *call) contactFoldersDelta() {
	u := c.user
	c.serveDelta(deltaSpec{
		key: "cf/" + u.id, col: func() *collection { return u.contactFolders },
		path: "/users/" + u.id + "/contactFolders/delta", context: c.context("Collection(contactFolder)"),
		defSize: outlookDefaultPage, maxSize: outlookMaxPage, partial: true, selectable: true,
		initial: selectOnly("ContactFolder"),
	})
}

func selectOnly(resource string) func(c *call, q url.Values) (map[string]string, bool) {
	return func(c *call, q url.Values) (map[string]string, bool) {
		opts := map[string]string{}
		for k, vs := range q {
			if strings.EqualFold(strings.TrimPrefix(k, "$"), "select") {
				opts["$select"] = vs[0]
				continue
			}
			return refuse(c, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported with change tracking over the '%s' resource.", k, resource))
		}
		return opts, true
	}
}

func (c *call) contactsDelta() {
	u := c.user
	c.em.mu.RLock()
	col := u.contacts[c.args["f"]]
	if col == nil {
		for k, v := range u.contacts {
			if strings.EqualFold(k, c.args["f"]) {
				col = v
			}
		}
	}
	key := ""
	for k, v := range u.contacts {
		if v == col && k != "contacts" {
			key = k
		}
	}
	c.em.mu.RUnlock()
	if col == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.serveDelta(deltaSpec{
		key: "c/" + u.id + "/" + key, col: func() *collection { return col },
		path: "/users/" + u.id + "/contactFolders/" + key + "/contacts/delta", context: c.context("Collection(contact)"),
		defSize: outlookDefaultPage, maxSize: outlookMaxPage, partial: true, selectable: true,
		initial: selectOnly("Contact"),
	})
}

// people serves /users/{id}/people in relevance order with $top (default
// 10) and $skip; there is no delta.
func (c *call) people() {
	q := c.r.URL.Query()
	top, skip := 10, 0
	if v, ok := query(q, "top"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.fail(http.StatusBadRequest, "ErrorInvalidParameter", "The value of the parameter 'Top' is invalid.")
			return
		}
		top = n
	}
	if v, ok := query(q, "skip"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.fail(http.StatusBadRequest, "ErrorInvalidParameter", "The value of the parameter 'Skip' is invalid.")
			return
		}
		skip = n
	}
	keep := selectKeep(q)
	c.em.mu.RLock()
	out := append([]byte(`{"@odata.context":`), raw(c.context("users('"+c.user.id+"')/people"))...)
	out = append(out, `,"value":[`...)
	for i := skip; i < min(skip+top, len(c.user.people)); i++ {
		if i > skip {
			out = append(out, ',')
		}
		b, _, _ := c.user.people[i].obj.encode(nil, keep)
		out = append(out, b...)
	}
	c.em.mu.RUnlock()
	c.writeJSON(append(out, "]}"...))
}

// AddPoisonContact adds a contact to a user's default Contacts folder whose
// createdDateTime is not a date, as a record a client cannot decode. It
// returns the contact's immutable id.
func (em *Emulator) AddPoisonContact(userID string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return "", fmt.Errorf("emulator: no user %q", userID)
	}
	defID := ""
	for k, c := range u.contacts {
		if k != "contacts" && c == u.contacts["contacts"] {
			defID = k
		}
	}
	e := em.addContact(u, em.nextVersion(), defID)
	e.obj.set("createdDateTime", "not a date")
	u.contacts[defID].record(em.version, e)
	return e.immID, nil
}

// AddPoisonPerson puts a person at rank (from 1) of a user's People list
// whose personType is a string instead of an object, as a record a client
// cannot decode. It returns the person's id.
func (em *Emulator) AddPoisonPerson(userID string, rank int) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return "", fmt.Errorf("emulator: no user %q", userID)
	}
	if rank < 1 || rank > len(u.people)+1 {
		return "", fmt.Errorf("emulator: rank %d outside the list of %d people", rank, len(u.people))
	}
	id := guidFrom(em.cfg.Seed, u.id+"poison person"+strconv.Itoa(rank))
	o := object{}
	o.set("id", id)
	o.set("displayName", "Poison Person")
	o.set("personType", "Person")
	u.people = append(u.people[:rank-1], append([]*person{{obj: o}}, u.people[rank-1:]...)...)
	return id, nil
}
