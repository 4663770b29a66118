package emulator

import "slices"

// RemoveUser deletes a user from the tenant, as an administrator does:
// users/delta reports the user @removed, and requests for the user's
// mailbox, calendar, drive and people answer 404 from then on. It reports
// whether the user existed.
func (em *Emulator) RemoveUser(userID string) bool {
	em.mu.Lock()
	defer em.mu.Unlock()
	u, ok := em.userByID[userID]
	if !ok {
		return false
	}
	delete(em.userByID, userID)
	em.users = slices.DeleteFunc(em.users, func(x *userRec) bool { return x == u })
	ver := em.nextVersion()
	if e, ok := em.usersCol.entries[u.id]; ok {
		em.usersCol.remove(ver, e)
	}
	em.userLeftGroups(ver, u)
	if em.removed == nil {
		em.removed = map[string]*userRec{}
	}
	em.removed[userID] = u
	return true
}

// RestoreUser brings back a user RemoveUser took out, with their data, as
// restoring a deleted user within 30 days does: users/delta reports the
// user again. It reports whether there was such a user.
func (em *Emulator) RestoreUser(userID string) bool {
	em.mu.Lock()
	defer em.mu.Unlock()
	u, ok := em.removed[userID]
	if !ok {
		return false
	}
	delete(em.removed, userID)
	em.users = append(em.users, u)
	em.userByID[u.id] = u
	ver := em.nextVersion()
	em.usersCol.add(ver, &entry{key: u.id, id: u.id, obj: u.obj})
	em.userBackInGroups(ver, u)
	return true
}
