package changes

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// The headers of a delivery. The signature is "v1=" and the hex HMAC-SHA256
// of the timestamp, a dot and the body, keyed with the endpoint's secret:
// a receiver recomputes it (Verify) and refuses a timestamp too far from
// its clock, so a captured delivery cannot be replayed later.
const (
	HeaderDelivery  = "Graphsync-Delivery"
	HeaderTimestamp = "Graphsync-Timestamp"
	HeaderSignature = "Graphsync-Signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Batch is the body of a delivery.
type Batch struct {
	// DeliveryID is the same for every attempt to deliver these changes:
	// a receiver that already accepted it can ignore it.
	DeliveryID string `json:"delivery_id"`
	EndpointID int64  `json:"endpoint_id"`
	// Changes are in feed order; each Seq is unique too.
	Changes []graphsync.Change `json:"changes"`
	// Cursor is the feed's cursor after Changes.
	Cursor graphsync.Cursor `json:"cursor"`
}

// NewSecret returns a new signing secret.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the signature header's value for body sent at timestamp ts
// (Unix seconds, as in the timestamp header).
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as its receiver: the signature over the body
// with secret, and a timestamp within tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not a Unix time", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s is %s away from now, more than %s: a replay, or a clock off", HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	want := Sign(secret, ts, body)
	for _, got := range strings.Split(h.Get(HeaderSignature), ",") {
		if hmac.Equal([]byte(strings.TrimSpace(got)), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%s does not match the body: wrong secret, or the body was altered", HeaderSignature)
}

// CheckURL validates an endpoint's URL: http or https, a host, no user
// information (put nothing secret in a URL: the signature authenticates),
// and https unless the host is a loopback address or insecure allows http.
func CheckURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook URL %q is not an http(s) URL", redact.Link(raw))
	}
	if u.User != nil {
		return fmt.Errorf("webhook URL %q holds user information: receivers authenticate deliveries by their signature", redact.Link(raw))
	}
	if u.Scheme == "http" && !insecure {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("webhook URL %q is plain http off loopback: use https (or allow http explicitly)", redact.Link(raw))
		}
	}
	return nil
}

// DelivererConfig configures a Deliverer.
type DelivererConfig struct {
	Store  *store.Store
	Logger *slog.Logger
	// Timeout bounds one delivery, answer included (default 10 s).
	Timeout time.Duration
	// Batch is the most changes one delivery carries (default 100).
	Batch int
	// Transport sends the requests (default http.DefaultTransport).
	Transport http.RoundTripper
	// UserAgent names the sender.
	UserAgent string
}

// Deliverer delivers the change feed to webhook endpoints, one batch at a
// time, in cursor order: an endpoint's cursor moves only once its batch is
// accepted, so what a receiver got before a failure is sent again under
// the same delivery id (at least once), and nothing is skipped.
type Deliverer struct {
	cfg    DelivererConfig
	client *http.Client
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhook deliverer: Store is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "graphsync-webhook"
	}
	client := &http.Client{
		Transport: cfg.Transport,
		Timeout:   cfg.Timeout,
		// A redirect is an answer, not an instruction: deliveries go only
		// where the operator registered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Deliverer{cfg: cfg, client: client}, nil
}

// ErrEndpointGone is returned for an endpoint that no longer exists.
var ErrEndpointGone = errors.New("webhook endpoint removed")

// Delivery is what one call to Deliver did.
type Delivery struct {
	// Changes delivered (0 when a batch held nothing for the endpoint).
	Changes int
	// More says another call may find more to deliver.
	More bool
}

// Deliver sends an endpoint its next batch of changes, if any.
func (d *Deliverer) Deliver(ctx context.Context, endpointID int64) (Delivery, error) {
	st := d.cfg.Store
	ep, err := st.Webhook(ctx, endpointID)
	if errors.Is(err, store.ErrNotFound) {
		return Delivery{}, ErrEndpointGone
	}
	if err != nil {
		return Delivery{}, err
	}
	// The batch is pinned and stored before it is sent: a retry sends the
	// same changes under the same delivery id.
	pinned, err := st.PinChanges(ctx, ep.Cursor)
	var expired *store.CursorExpiredError
	if errors.As(err, &expired) {
		deliveries.WithLabelValues(outcomeExpired).Inc()
		reason := fmt.Sprintf("the endpoint fell behind the change feed's retention: %v; `graphsync webhooks reset %d` resumes it", err, endpointID)
		if ferr := st.WebhookFailed(ctx, endpointID, reason); ferr != nil {
			return Delivery{}, errors.Join(err, ferr)
		}
		return Delivery{}, fmt.Errorf("webhook endpoint %d: %w", endpointID, err)
	}
	if err != nil {
		return Delivery{}, err
	}
	if pinned.String() != ep.Cursor.String() {
		moved, err := st.MoveWebhook(ctx, endpointID, ep.Cursor, pinned, -1)
		if err != nil || !moved {
			return Delivery{More: true}, err
		}
	}
	if !pinned.InBatch() {
		return Delivery{}, nil
	}
	page, err := st.ReadChanges(ctx, pinned, ep.Filter, d.cfg.Batch)
	if err != nil {
		return Delivery{}, err
	}
	cs, next := page.Changes, page.Next
	if len(cs) == 0 {
		_, err := st.MoveWebhook(ctx, endpointID, pinned, next, -1)
		return Delivery{More: true}, err
	}
	id := deliveryID(endpointID, pinned)
	body, err := json.Marshal(Batch{DeliveryID: id, EndpointID: endpointID, Changes: cs, Cursor: next})
	if err != nil {
		return Delivery{}, fmt.Errorf("webhook endpoint %d: encode batch: %w", endpointID, err)
	}
	secret, err := st.WebhookSecret(ctx, endpointID)
	if err != nil {
		return Delivery{}, err
	}
	start := time.Now()
	outcome, err := d.post(ctx, ep.URL, secret, id, body)
	deliveries.WithLabelValues(outcome).Inc()
	deliveryDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ferr := st.WebhookFailed(ctx, endpointID, err.Error()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return Delivery{}, fmt.Errorf("deliver %d changes to webhook endpoint %d: %w", len(cs), endpointID, err)
	}
	delivered.Add(float64(len(cs)))
	if _, err := st.MoveWebhook(ctx, endpointID, pinned, next, len(cs)); err != nil {
		return Delivery{}, err
	}
	d.cfg.Logger.DebugContext(ctx, "webhook delivered", "endpoint_id", endpointID, "delivery_id", id, "changes", len(cs))
	return Delivery{Changes: len(cs), More: true}, nil
}

// deliveryID names the batch that starts at pinned, for every attempt.
func deliveryID(endpoint int64, pinned graphsync.Cursor) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(endpoint, 10) + "/" + pinned.String()))
	return hex.EncodeToString(sum[:16])
}

// post sends one signed batch and returns its outcome.
func (d *Deliverer) post(ctx context.Context, target, secret, id string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return outcomeUnreachable, fmt.Errorf("POST %s: %w", redact.Link(target), redact.URLError(err))
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return outcomeUnreachable, fmt.Errorf("POST %s: %w", redact.Link(target), redact.URLError(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outcomeRejected, fmt.Errorf("POST %s: answered %s: %s", redact.Link(target), resp.Status, strings.TrimSpace(store.CleanText(string(answer))))
	}
	return outcomeDelivered, nil
}
