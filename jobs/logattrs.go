package jobs

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// logAttrs is a River worker middleware that puts the job id, connection,
// resource and user of the job being worked in its context, so that every
// line logged while working it, the Graph client's included, names them
// (through a handler that reads LogAttrs).
type logAttrs struct{ river.MiddlewareDefaults }

type logAttrsKey struct{}

func (*logAttrs) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var args struct {
		ConnectionID int64  `json:"connection_id"`
		Resource     string `json:"resource"`
		UserID       string `json:"user_id"`
	}
	// Args of other kinds simply lack these fields.
	_ = json.Unmarshal(job.EncodedArgs, &args)
	attrs := []slog.Attr{slog.Int64("job_id", job.ID)}
	if args.ConnectionID != 0 {
		attrs = append(attrs, slog.Int64("connection_id", args.ConnectionID))
	}
	if args.Resource != "" {
		attrs = append(attrs, slog.String("resource", args.Resource))
	}
	if args.UserID != "" {
		attrs = append(attrs, slog.String("user_id", args.UserID))
	}
	return doInner(context.WithValue(ctx, logAttrsKey{}, attrs))
}

// LogAttrs returns the attributes naming the job ctx is working, if any.
func LogAttrs(ctx context.Context) []slog.Attr {
	attrs, _ := ctx.Value(logAttrsKey{}).([]slog.Attr)
	return attrs
}
