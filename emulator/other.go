package emulator

import (
	"math/rand/v2"
	"time"
)

func otherRoutes() []route {
	return []route{
		{"users/{u}/calendarView/delta", svcOutlook, calScopes, calRoles, (*call).calendarViewDelta},
		{"users/{u}/drive", svcDrive, filesScopes, filesRoles, (*call).getDrive},
		{"drives/{d}", svcDrive, filesScopes, filesRoles, (*call).getDrive},
		{"users/{u}/drive/root/delta", svcDrive, filesScopes, filesRoles, (*call).driveDelta},
		{"users/{u}/drive/delta", svcDrive, filesScopes, filesRoles, (*call).driveDelta},
		{"drives/{d}/root/delta", svcDrive, filesScopes, filesRoles, (*call).driveDelta},
		{"users/{u}/chats", svcTeams, chatListScopes, chatListRoles, (*call).listChats},
		{"users/{u}/chats/{c}/messages", svcTeams, chatScopes, chatRoles, (*call).chatMessages},
		{"chats/{c}/messages", svcTeams, chatScopes, chatRoles, (*call).chatMessages},
		{"users/{u}/people", svcOutlook, peopleScopes, peopleRoles, (*call).people},
		{"users/{u}/contactFolders/delta", svcOutlook, contactScopes, contactScopes, (*call).contactFoldersDelta},
		{"users/{u}/contactFolders/{f}/contacts/delta", svcOutlook, contactScopes, contactScopes, (*call).contactsDelta},
	}
}

func (em *Emulator) genOther(u *userRec, anchor time.Time) {
	ver := em.version
	em.genEvents(u, anchor, ver)
	em.genDrive(u, anchor, ver)
	em.genContacts(u, ver)
	em.genPeople(u)
}

// mutateOther spreads the non-mail share of mutations over the other
// resources; k is in [45, 100).
func (em *Emulator) mutateOther(u *userRec, r *rand.Rand, ver uint64, k int) string {
	switch {
	case k < 60:
		return em.mutateEvents(u, r, ver)
	case k < 75:
		return em.mutateDrive(u.od, r, ver)
	case k < 82:
		return em.mutateChats(u, r, ver)
	case k < 87:
		return em.mutateChannels(r, ver)
	case k < 95:
		return em.mutateContacts(u, r, ver)
	default:
		return em.mutatePeople(u, r)
	}
}
