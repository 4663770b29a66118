package connect_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// wire is a ResponseWriter whose bytes reach the browser only when flushed,
// as a server's buffered connection does; what was sent is what a browser
// gets if the process exits that instant.
type wire struct {
	mu     sync.Mutex
	header http.Header
	status int
	buf    bytes.Buffer
	sent   []byte
	length string
}

func (w *wire) Header() http.Header { return w.header }

func (w *wire) WriteHeader(status int) { w.status = status }

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *wire) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = bytes.Clone(w.buf.Bytes())
	w.length = w.header.Get("Content-Length")
}

func (w *wire) onWire() (sent []byte, length string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.sent), w.length
}

// When the sign-in fails, the error page is on its way to the browser,
// whole, before Wait hands the error to `graphsync connect`, which then
// exits.
func TestCallbackPageIsSentBeforeTheCommandReturns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.flow(t, nil)
	u, err := url.Parse(f.Begin())
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{header: http.Header{}}
	go f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/callback?state="+url.QueryEscape(u.Query().Get("state"))+
		"&error=access_denied&error_description=the+user+declined", nil))
	_, err = f.Wait(t.Context())
	if err == nil {
		t.Fatal("a declined sign-in succeeded")
	}
	sent, length := w.onWire()
	if !bytes.Contains(sent, []byte("the user declined")) || length != strconv.Itoa(len(sent)) {
		t.Fatalf("when Wait returned, %d bytes of the error page were sent (length %q): %q", len(sent), length, sent)
	}
}
