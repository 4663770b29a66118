package emulator

import (
	"net/url"
)

func (c *call) getUser() {
	c.em.mu.RLock()
	b, off, end := c.user.obj.encode(nil, selectKeep(c.r.URL.Query()))
	c.em.mu.RUnlock()
	b = appendWithID(nil, b, off, end, c.user.id, c.user.id)
	c.writeJSON(withContext(b, c.context("users/$entity")))
}

func selectKeep(q url.Values) func(string) bool {
	v, _ := query(q, "select")
	sel := selectSet(v)
	if sel == nil {
		return nil
	}
	return func(k string) bool { return sel[k] }
}

// listUsers pages /users: default 100, at most 999, as the directory does.
func (c *call) listUsers() {
	keep := selectKeep(c.r.URL.Query())
	c.em.mu.RLock()
	items := make([][]byte, 0, len(c.em.users))
	for _, u := range c.em.users {
		b, _, _ := u.obj.encode(nil, keep)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	c.servePaged(items, c.context("users"), 100, 999)
}

// usersDelta serves /users/delta: $select only ($top, $expand and $orderby
// are refused), $deltaToken=latest, 400 syncStateNotFound on expiry.
func (c *call) usersDelta() {
	c.svc = svcDirectory
	c.serveDelta(deltaSpec{
		key: "users", col: func() *collection { return c.em.usersCol }, path: "/users/delta",
		context: c.context("users"), defSize: 100, maxSize: 999, selectable: true, latest: "$deltatoken",
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			return deltaOptions(c, q, "Request_UnsupportedQuery", "Unsupported query option '%s' for delta query.",
				map[string]deltaOption{"select": carry, "filter": carry})
		},
	})
}
