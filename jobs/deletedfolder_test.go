package jobs_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/internal/worker"
)

// afterFoldersDelta is a proxy before the emulator's Graph that, once
// armed, runs a change as soon as the emulator has answered the next
// mailFolders delta request: the change happens after the folder list was
// read and before the folders' own deltas are.
type afterFoldersDelta struct {
	mu     sync.Mutex
	change func()
}

func (p *afterFoldersDelta) arm(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.change = change
}

// start serves the proxy in front of target for the test's life.
func (p *afterFoldersDelta) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		if !strings.Contains(res.Request.URL.Path, "/mailFolders/delta") {
			return nil
		}
		p.mu.Lock()
		change := p.change
		p.change = nil
		p.mu.Unlock()
		if change == nil {
			return nil
		}
		// The page is read whole before the change, so it cannot show it.
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		change()
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A mail folder deleted after the folders delta listed it answers its
// messages delta 404: the pass retires the folder's stream quietly (the
// next folders delta reports the deletion), with no ERROR logged, no
// stream in error and no failed job; the next pass retires the folder and
// its messages.
func TestDeletedMailFolderRetiresQuietly(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	proxy := &afterFoldersDelta{}
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 40},
		worker: func(c *worker.Config) {
			c.Logger = logs.Logger()
			c.Graph.BaseURL = proxy.start(t, c.Graph.BaseURL)
			// Each folder's delta asked on its own, after the folders
			// delta, not answered from a batch sent before it.
			c.Engine.NoBatch = true
		}})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	var folder string
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT id FROM mail_folders WHERE display_name = 'Receipts' AND deleted_at IS NULL`).
		Scan(&folder); err != nil {
		t.Fatalf("no Receipts folder: %v", err)
	}
	user := b.conns[0].UserID
	deleted := make(chan error, 1)
	proxy.arm(func() { deleted <- b.em.DeleteMailFolder(user, folder) })
	b.syncNow(t, time.Minute)
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the second pass read no mailFolders delta")
	}
	if !strings.Contains(logs.String(), "folder deleted since the folders delta listed it") {
		t.Fatalf("the folder's messages delta did not answer 404, or it went unnoticed:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the deleted folder was logged as an error:\n%s", logs.String())
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE status <> 'ok'`); n != 0 {
		t.Errorf("%d streams not ok after the folder was deleted", n)
	}
	if n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'graphsync_sync' AND cardinality(errors) > 0`); n != 0 {
		t.Errorf("%d sync jobs recorded an error after the folder was deleted", n)
	}

	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'mail' AND stream = $1`, folder); n != 0 {
		t.Errorf("the deleted folder's stream is still recorded after the next pass")
	}
	if n := b.count(t, `SELECT count(*) FROM mail_folders WHERE id = $1 AND deleted_at IS NOT NULL`, folder); n != 1 {
		t.Errorf("the deleted folder is not marked deleted after the next pass")
	}
}
