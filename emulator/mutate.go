package emulator

import (
	"math/rand/v2"
	"time"
)

// Mutate applies n random changes (creates, updates, moves, deletes) across
// users and resources, deterministic from the seed. It returns a short
// description of each change.
func (em *Emulator) Mutate(n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		em.mu.Lock()
		if len(em.users) == 0 {
			em.mu.Unlock()
			break
		}
		ver := em.nextVersion()
		var u *userRec
		var what string
		if k := em.moreRand.IntN(100); k < moreShare {
			r := em.moreRand
			u = em.users[r.IntN(len(em.users))]
			what = em.mutateMore(u, r, ver, k)
		} else {
			r := em.mutRand
			u = em.users[r.IntN(len(em.users))]
			switch k := r.IntN(100); {
			case k < 45:
				what = em.mutateMail(u, r, ver)
			default:
				what = em.mutateOther(u, r, ver, k)
			}
		}
		em.mu.Unlock()
		em.cfg.Logger.Debug("mutation", "user_id", u.id, "change", what)
		out = append(out, what)
	}
	return out
}

// moreShare is the percentage of mutations that change the later
// resources; mutateMore spreads them.
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
