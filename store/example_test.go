package store_test

import (
	"context"
	"fmt"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// A page's rows and its checkpoint commit in one transaction: a crash
// before the commit leaves neither, and the next sync resumes at the page.
func ExampleStore_UpsertTx() {
	ctx := context.Background()
	url, drop, err := pgtest.Migrated()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drop()
	key, _ := store.GenerateKey()
	keys, _ := store.ParseKeyring(key)
	st, err := store.Open(ctx, url, keys)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	conn, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "contoso", UserID: "user-1",
		Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "refresh-token"})
	if err != nil {
		fmt.Println(err)
		return
	}

	t := graphsync.Mail.Items()
	inbox := graphsync.Stream{Connection: conn.ID, User: "user-1", Resource: graphsync.Mail, Container: "inbox"}
	row, _ := t.Map([]byte(`{"id":"m1","subject":"hello","receivedDateTime":"2026-11-30T08:00:00Z"}`),
		graphsync.MapContext{User: "user-1", Container: "inbox"})
	page := func() (int64, error) {
		var n int64
		err := st.InTx(ctx, func(tx store.Tx) error {
			var err error
			if n, err = st.UpsertTx(ctx, tx, t, conn.ID, []graphsync.Row{row}, nil); err != nil {
				return err
			}
			return st.CheckpointTx(ctx, tx, inbox, "https://graph.microsoft.com/v1.0/next", store.Progress{Pages: 1, Upserted: int(n)})
		})
		return n, err
	}
	fmt.Println(page())
	fmt.Println(page()) // the same page again changes nothing
	state, _ := st.SyncState(ctx, inbox)
	fmt.Println(state.NextLink, state.Pages)
	live, deleted, _ := st.RowCounts(ctx, t)
	fmt.Println(live, deleted)
	// Output:
	// 1 <nil>
	// 0 <nil>
	// https://graph.microsoft.com/v1.0/next 2
	// 1 0
}
