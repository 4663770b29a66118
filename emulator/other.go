package emulator

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

type chat struct{}

type person struct{}

func otherRoutes() []route { return nil }

func (em *Emulator) genOther(u *userRec, anchor time.Time) {}

func (em *Emulator) genChats(anchor time.Time) {}

func (u *userRec) contactFolderList() []*collection { return nil }

func (u *userRec) peopleTruth() []json.RawMessage { return []json.RawMessage{} }

func (em *Emulator) chatsTruth(u *userRec) []json.RawMessage { return []json.RawMessage{} }

func (em *Emulator) chatMessagesTruth(u *userRec) []json.RawMessage { return []json.RawMessage{} }

func (em *Emulator) mutateOther(u *userRec, r *rand.Rand, ver uint64, k int) string {
	return em.mutateMail(u, r, ver)
}

func (em *Emulator) serveBatch(c *call) {
	c.fail(501, "notSupported", "not yet")
}
