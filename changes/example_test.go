package changes_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/changes"
)

// A webhook receiver verifies each delivery before storing it.
func ExampleVerify() {
	secret := "whsec_shared-with-graphsync"
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := changes.Verify(secret, r.Header, body, time.Now(), changes.DefaultTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Store the batch, deduplicating on the Graphsync-Delivery header,
		// then answer 2xx.
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"delivery_id":"d1","endpoint_id":1,"changes":[],"cursor":""}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(changes.HeaderTimestamp, ts)
	req.Header.Set(changes.HeaderSignature, changes.Sign(secret, ts, []byte(body)))
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}
