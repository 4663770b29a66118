package redact_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/internal/redact"
)

func TestLinkDropsTokens(t *testing.T) {
	t.Parallel()
	for link, want := range map[string]string{
		"https://graph.microsoft.com/v1.0/me/mailFolders/x/messages/delta?$deltatoken=SECRET": "https://graph.microsoft.com/v1.0/me/mailFolders/x/messages/delta",
		"https://graph.microsoft.com/v1.0/me/drive/root/delta(token='SECRET')":                "https://graph.microsoft.com/v1.0/me/drive/root/delta(…)",
		"https://graph.microsoft.com/v1.0/me/drive/root/delta(token=SECRET)?$top=5":           "https://graph.microsoft.com/v1.0/me/drive/root/delta(…)",
		"https://user:SECRET@graph.microsoft.com/v1.0/me":                                     "https://graph.microsoft.com/v1.0/me",
		"/me/drive/root/delta(Token='SECRET'":                                                 "/me/drive/root/delta(…)",
		"/me/people#SECRET":                                                                   "/me/people",
	} {
		got := redact.Link(link)
		if got != want || strings.Contains(got, "SECRET") {
			t.Errorf("Link(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestURLError(t *testing.T) {
	t.Parallel()
	err := redact.URLError(&url.Error{Op: "Get", URL: "https://h/root/delta(token='SECRET')?x=SECRET", Err: errors.New("boom")})
	if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("redacted error = %q", err)
	}
}
