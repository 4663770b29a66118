package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// secretWarnAhead is how long before the client secret's expiry it is
// warned about, as the GraphsyncClientSecretExpiring alert does.
const secretWarnAhead = 30 * 24 * time.Hour

// warnings lists what concerns every connection, for `status` and `config
// check`: the app's credentials refused (as a worker recorded it; cleared
// by the next token issued), the client secret expiring within 30 days or
// expired, and connections whose tokens the configured encryption key
// cannot open (checked only when a key is configured).
func warnings(ctx context.Context, cfg *config.Config, st *store.Store, now time.Time) ([]string, error) {
	out, err := databaseWarnings(ctx, cfg, st)
	return append(out, secretWarnings(cfg, now)...), err
}

// secretWarnings warns of a client secret (GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT)
// or certificate (GRAPHSYNC_CLIENT_CERTIFICATE_FILE) that expires within
// 30 days or has expired.
func secretWarnings(cfg *config.Config, now time.Time) []string {
	expiry, certificate, err := cfg.CredentialExpiry()
	if err != nil || expiry.IsZero() {
		return nil
	}
	what, source := "client secret", "GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT"
	if certificate {
		what, source = "client certificate", "GRAPHSYNC_CLIENT_CERTIFICATE_FILE"
	}
	switch left := expiry.Sub(now); {
	case left <= 0:
		return []string{fmt.Sprintf("the %s expired on %s (%s): create a new one in the app registration", what, expiry.UTC().Format(time.DateOnly), source)}
	case left < secretWarnAhead:
		return []string{fmt.Sprintf("the %s expires on %s, in %d day(s) (%s): create a new one in the app registration before then",
			what, expiry.UTC().Format(time.DateOnly), int(left.Hours()/24), source)}
	}
	return nil
}

// databaseWarnings are the warnings read from the database: the app's
// credentials refused, tokens the key cannot open.
func databaseWarnings(ctx context.Context, cfg *config.Config, st *store.Store) ([]string, error) {
	var out []string
	refusal, err := st.AppRefusal(ctx)
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		out = append(out, fmt.Sprintf("the identity platform refused graphsync's app credentials (%s: %s) at %s; no connection can refresh its token until GRAPHSYNC_CLIENT_ID or the client secret is fixed",
			refusal.Code, refusal.Reason, formatTime(&refusal.At)))
	}
	mailboxes, err := st.Mailboxes(ctx, 0)
	if err != nil {
		return nil, err
	}
	for _, m := range mailboxes {
		if m.Status == store.MailboxNoAccess {
			out = append(out, fmt.Sprintf("connection %d: Graph refused the shared mailbox %s (%s): its owner may have withdrawn the share; its rows stay as last synced and it is tried again every sync interval (graphsync connections mailboxes %d)",
				m.ConnectionID, m.Address, oneLine(m.LastError, 120), m.ConnectionID))
		}
	}
	if keys, err := cfg.Keyring(); err == nil {
		bad, err := st.WithKeys(keys).Undecryptable(ctx)
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			ids := make([]string, len(bad))
			for i, id := range bad {
				ids[i] = fmt.Sprint(id)
			}
			out = append(out, fmt.Sprintf("GRAPHSYNC_ENCRYPTION_KEY cannot open the tokens of %d connection(s) (%s): was the key they were sealed with removed? Put it back after the new key, or connect those users again",
				len(bad), strings.Join(ids, ", ")))
		}
	}
	return out, nil
}
