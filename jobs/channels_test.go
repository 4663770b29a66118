package jobs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// Teams, channels and channel messages with their replies equal the truth
// after the first sync, after posts and replies are created, edited and
// deleted, and after the channels' delta tokens expire (410, a full round).
func TestChannelsSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 1, ChatsPerUser: 1, ChatMessagesPerChat: 40},
		resources: []string{"channels"}})
	b.syncNow(t, 2*time.Minute)
	b.assertMatchesTruth(t, "channels")
	if n := b.count(t, "SELECT count(*) FROM channel_messages WHERE reply_to_id IS NOT NULL"); n == 0 {
		t.Fatal("no reply stored")
	}
	if n := b.count(t, "SELECT count(*) FROM channels WHERE membership_type = 'private' AND deleted_at IS NULL"); n == 0 {
		t.Fatal("no private channel stored")
	}

	kinds := map[string]bool{}
	want := []string{"channelMessage created", "channelMessage edited", "channelMessage deleted",
		"channelReply created", "channelReply edited", "channelReply deleted"}
	for i := 0; i < 60 && len(kinds) < len(want); i++ {
		for _, what := range b.em.Mutate(100) {
			for _, k := range want {
				if strings.HasPrefix(what, k) {
					kinds[k] = true
				}
			}
		}
	}
	if len(kinds) < len(want) {
		t.Fatalf("mutations made only %v", kinds)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertMatchesTruth(t, "channels")
	if n := b.count(t, `SELECT count(*) FROM channel_messages WHERE reply_to_id IS NOT NULL AND deleted_at IS NOT NULL
		AND deleted_at = (raw->>'deletedDateTime')::timestamptz AND coalesce(body_content, '') = ''`); n == 0 {
		t.Fatalf("no deleted reply stored with deleted_at from deletedDateTime; %d deleted rows", b.count(t, "SELECT count(*) FROM channel_messages WHERE raw ? 'deletedDateTime' AND raw->>'deletedDateTime' IS NOT NULL"))
	}
	if n := b.count(t, "SELECT count(*) FROM channel_messages WHERE reply_to_id IS NOT NULL AND body_content LIKE '%(edited)%'"); n == 0 {
		t.Fatal("no edited reply stored")
	}
	if n := b.count(t, "SELECT count(*) FROM channel_messages WHERE raw ? 'replies'"); n != 0 {
		t.Fatalf("%d posts stored with their replies inline", n)
	}

	// An idle pass writes nothing.
	before := b.count(t, "SELECT count(*) FROM changes")
	b.syncNow(t, time.Minute)
	if after := b.count(t, "SELECT count(*) FROM changes"); after != before {
		t.Fatalf("idle pass logged %d changes", after-before)
	}

	// Expired delta tokens: every channel starts over as a full round.
	b.em.ExpireDeltaTokens()
	b.em.Mutate(50)
	b.em.ResetCounters()
	b.syncNow(t, 2*time.Minute)
	if gone := b.em.Counters().Requests["teams/{t}/channels/{c}/messages/delta"][410]; gone == 0 {
		t.Fatal("no channel delta answered 410 after the tokens expired")
	}
	b.assertMatchesTruth(t, "channels")
}
