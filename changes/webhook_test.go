package changes_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/changes"
)

// A receiver checks the signature and the timestamp: an altered body, the
// wrong secret or a replay later than the tolerance are refused.
func TestVerify(t *testing.T) {
	t.Parallel()
	secret := changes.NewSecret()
	body := []byte(`{"changes":[]}`)
	now := time.Now()
	header := func(at time.Time, key string, b []byte) http.Header {
		h := http.Header{}
		ts := strconv.FormatInt(at.Unix(), 10)
		h.Set(changes.HeaderTimestamp, ts)
		h.Set(changes.HeaderSignature, changes.Sign(key, ts, b))
		return h
	}
	if err := changes.Verify(secret, header(now, secret, body), body, now, changes.DefaultTolerance); err != nil {
		t.Fatalf("a good delivery: %v", err)
	}
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
	}{
		"altered body": {header(now, secret, body), []byte(`{"changes":[1]}`)},
		"wrong secret": {header(now, changes.NewSecret(), body), body},
		"replayed":     {header(now.Add(-10*time.Minute), secret, body), body},
		"from ahead":   {header(now.Add(10*time.Minute), secret, body), body},
		"no timestamp": {http.Header{changes.HeaderSignature: {changes.Sign(secret, "", body)}}, body},
		"no signature": {http.Header{changes.HeaderTimestamp: {strconv.FormatInt(now.Unix(), 10)}}, body},
	} {
		if err := changes.Verify(secret, c.h, c.body, now, changes.DefaultTolerance); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if sig := changes.Sign(secret, "1", body); !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("signature %q is not v1= and a hex SHA-256", sig)
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"https://hooks.example.com/in", "http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:80/"} {
		if err := changes.CheckURL(ok, false); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://hooks.example.com/x", "ftp://x/", "https://", "https://user:pw@hooks.example.com/"} {
		err := changes.CheckURL(bad, false)
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
	if err := changes.CheckURL("http://hooks.internal/x", true); err != nil {
		t.Errorf("http allowed explicitly: %v", err)
	}
}
