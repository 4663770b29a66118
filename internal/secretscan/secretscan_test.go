package secretscan_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/internal/secretscan"
)

func TestScan(t *testing.T) {
	t.Parallel()
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
	refresh := "0.AAAA-refresh/token+with=specials&more"
	secrets := []string{token, refresh, "short", "client-secret-value"}
	tests := []struct {
		name, text string
		want       []int // secret indexes found
		form       string
	}{
		{"clean", "level=INFO msg=synced pages=3 token=[redacted]", nil, ""},
		{"verbatim", "Authorization: Bearer " + token, []int{0}, "verbatim"},
		{"url encoded", "refresh_token=" + url.QueryEscape(refresh), []int{1}, "url"},
		{"json escaped", `{"refresh_token":"0.AAAA-refresh/token+with=specials\u0026more"}`, []int{1}, "json"},
		{"base64", base64.StdEncoding.EncodeToString([]byte("client-secret-value")), []int{3}, "base64"},
		{"cut short", "token=" + token[20:], []int{0}, "tail"},
		{"too short to scan", "short", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := secretscan.Scan("test", []byte(tt.text), secrets)
			if len(got) != len(tt.want) {
				t.Fatalf("found %v, want secrets %v", got, tt.want)
			}
			for i, f := range got {
				if f.Secret != tt.want[i] || f.Form != tt.form {
					t.Fatalf("finding %v, want secret %d as %s", f, tt.want[i], tt.form)
				}
				if strings.Contains(f.String(), secrets[f.Secret]) {
					t.Fatalf("finding %q repeats the secret", f)
				}
			}
		})
	}
}

func TestLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		want int
	}{
		{`path=/v1.0/me/mailFolders/x/messages/delta status=200`, 0},
		{`path=/v1.0/drives/b!x/root/delta(…) status=500`, 0},
		{`GET /v1.0/drives/b!x/root/delta(token='eyJrIjoiZHJpdmUv') failed`, 1},
		{`"next":"https://graph.microsoft.com/v1.0/me/messages/delta?$skiptoken=abcDEF"`, 1},
		{`link=https%3A%2F%2Fg%2Fdelta%3F%24deltatoken%3Dabc`, 1},
		{`https://g/v1.0/me/drive/root/delta?token=abc and delta(token=xyz)`, 2},
		{`token=[redacted] and the $skiptoken= parameter`, 0},
	} {
		got := secretscan.Links("test", []byte(tt.text))
		if len(got) != tt.want {
			t.Errorf("%q: found %v, want %d", tt.text, got, tt.want)
		}
		for _, f := range got {
			if strings.Contains(f.String(), "eyJ") || strings.Contains(f.String(), "abc") || strings.Contains(f.String(), "xyz") {
				t.Errorf("finding %q repeats the token", f)
			}
		}
	}
}
