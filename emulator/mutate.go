package emulator

import (
	"math/rand/v2"
	"time"
)

// Mutate applies n random changes (creates, updates, moves, deletes) to
// the mail, calendars, drives, chats, the first team's channel posts,
// contacts and people, deterministic from the seed, and with about one in
// four of them a change to the later resources (attachments, channel
// replies and the other teams' posts, SharePoint libraries, permissions,
// groups), drawn from a generator of their own: the earlier resources see
// the same sequence of changes they always did. It returns a short
// description of each change, so up to about 5n/4.
func (em *Emulator) Mutate(n int) []string {
	out := make([]string, 0, n+n/4+1)
	for i := 0; i < n; i++ {
		em.mu.Lock()
		if len(em.users) == 0 {
			em.mu.Unlock()
			break
		}
		r := em.mutRand
		u := em.users[r.IntN(len(em.users))]
		ver := em.nextVersion()
		var what []string
		switch k := r.IntN(100); {
		case k < 45:
			what = append(what, em.mutateMail(u, r, ver))
		default:
			what = append(what, em.mutateOther(u, r, ver, k))
		}
		if k := em.moreRand.IntN(100); k < moreShare {
			mr := em.moreRand
			what = append(what, em.mutateMore(em.users[mr.IntN(len(em.users))], mr, em.nextVersion(), k))
		}
		em.mu.Unlock()
		for _, w := range what {
			em.cfg.Logger.Debug("mutation", "user_id", u.id, "change", w)
		}
		out = append(out, what...)
	}
	return out
}

// moreShare is the percentage of Mutate's steps that also change a later
// resource; mutateMore spreads them.
const moreShare = 25

// mutateMore changes one of the later resources; k is in [0, moreShare).
func (em *Emulator) mutateMore(u *userRec, r *rand.Rand, ver uint64, k int) string {
	switch {
	case k < 6:
		return em.mutateChannelChains(r, ver)
	case k < 12:
		return em.mutateLibraries(r, ver)
	case k < 15:
		return em.mutatePermissions(r, ver)
	case k < 18:
		return em.mutateGroups(r, ver)
	default:
		return em.mutateAttachments(u, r, ver)
	}
}

// StartMutations applies mutations continuously at rate per second until
// StopMutations; a second call replaces the rate.
func (em *Emulator) StartMutations(rate float64) {
	em.StopMutations()
	if rate <= 0 {
		return
	}
	em.mutMu.Lock()
	defer em.mutMu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	em.mutStop, em.mutDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				em.Mutate(1)
			}
		}
	}()
}

// StopMutations stops StartMutations and waits for it to finish.
func (em *Emulator) StopMutations() {
	em.mutMu.Lock()
	defer em.mutMu.Unlock()
	if em.mutStop != nil {
		close(em.mutStop)
		<-em.mutDone
		em.mutStop, em.mutDone = nil, nil
	}
}
