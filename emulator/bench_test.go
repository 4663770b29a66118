package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMessagesDelta measures the emulator serving full initial rounds
// of messages/delta over loopback HTTP. Clients read every byte but count
// items with a byte scan rather than encoding/json, so the figure is the
// emulator's throughput, not the decoder's; one page is fully decoded up
// front to check it is valid JSON.
func BenchmarkMessagesDelta(b *testing.B) {
	benchmarkDelta(b, Config{Seed: 1, Users: 1, MessagesPerUser: 8000}, func(*Emulator) string { return "inbox" })
}

// BenchmarkLazyMessagesDelta is BenchmarkMessagesDelta over a lazy archive
// of as many messages, generated as they are served.
func BenchmarkLazyMessagesDelta(b *testing.B) {
	benchmarkDelta(b, Config{Seed: 1, Users: 1, MessagesPerUser: 10, LazyMessages: 8000}, func(em *Emulator) string {
		return em.users[0].mail.lazy.f.id
	})
}

func benchmarkDelta(b *testing.B, cfg Config, folder func(*Emulator) string) {
	srv, err := Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	em := srv.Emulator
	now := time.Now()
	tok := em.jwt(map[string]any{"aud": "https://graph.microsoft.com", "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "idtyp": "app",
		"appid": defaultClientID, "roles": defaultRoles})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	start := srv.URL() + "/v1.0/users/" + em.Users()[0].ID + "/mailFolders/" + folder(em) + "/messages/delta"
	fetch := func(link string, buf *bytes.Buffer) error {
		req, _ := http.NewRequest(http.MethodGet, link, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Prefer", "odata.maxpagesize=500")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf.Reset()
		_, err = io.Copy(buf, resp.Body)
		if err == nil && resp.StatusCode != 200 {
			b.Fatalf("status %d: %.300s", resp.StatusCode, buf.Bytes())
		}
		return err
	}
	var first bytes.Buffer
	if err := fetch(start, &first); err != nil || !json.Valid(first.Bytes()) {
		b.Fatalf("first page invalid: %v", err)
	}
	marker := []byte(`{"@odata.type":"#microsoft.graph.message"`)
	nextKey := []byte(`"@odata.nextLink":"`)
	var msgs atomic.Int64
	t0 := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			link := start
			for link != "" {
				if err := fetch(link, &buf); err != nil {
					b.Error(err)
					return
				}
				body := buf.Bytes()
				msgs.Add(int64(bytes.Count(body, marker)))
				link = ""
				if i := bytes.LastIndex(body, nextKey); i >= 0 {
					rest := body[i+len(nextKey):]
					link = string(rest[:bytes.IndexByte(rest, '"')])
				}
			}
		}
	})
	b.ReportMetric(float64(msgs.Load())/time.Since(t0).Seconds(), "msgs/s")
}

// BenchmarkAttachmentValue streams a 100 MB file attachment's $value over
// loopback HTTP. The content is generated as it is written, so the
// emulator's allocations per download stay far below the attachment's size
// (B/op, which counts the client's reads into a reused buffer too), and
// MB/s is the throughput of generating and serving it.
func BenchmarkAttachmentValue(b *testing.B) {
	srv, err := Start(Config{Seed: 1, Users: 1, MessagesPerUser: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	em := srv.Emulator
	u := em.Users()[0]
	var msg string
	em.mu.RLock()
	for id := range em.users[0].mail.byMsgID {
		msg = id
	}
	em.mu.RUnlock()
	const size = 100 << 20
	att, err := em.AddAttachment(u.ID, msg, AttachmentSpec{Name: "big.zip", ContentType: "application/zip", Size: size})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok := em.jwt(map[string]any{"aud": "https://graph.microsoft.com", "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "idtyp": "app",
		"appid": defaultClientID, "roles": defaultRoles})
	link := srv.URL() + "/v1.0/users/" + u.ID + "/messages/" + msg + "/attachments/" + att + "/$value"
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest(http.MethodGet, link, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
