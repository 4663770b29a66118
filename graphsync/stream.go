package graphsync

import (
	"fmt"
	"strconv"
	"strings"
)

// Stream is one checkpointed unit of sync: a resource of one user of a
// connection, or a container within it (a mail folder, a chat, the folder
// list). Its checkpoint is one row of sync_state, keyed by these four.
type Stream struct {
	Connection int64
	// User is the mailbox the stream reads: the connection's user for a
	// delegated connection, one user of the tenant for an application
	// connection; empty for the tenant's user discovery.
	User     string
	Resource *Resource
	// Container names the stream within the resource; empty for its top
	// level, which records when the resource as a whole last synced.
	Container string
}

// Top returns the resource's top-level stream of the same user.
func (s Stream) Top() Stream {
	s.Container = ""
	return s
}

// In returns the stream of container within s's resource and user.
func (s Stream) In(container string) Stream {
	s.Container = container
	return s
}

// String is the stream's one text form, for logs, errors and the CLI:
// <connection>/<resource>/"<user>"/"<container>". The user and container
// are Go-quoted because a container may hold anything (chat ids hold
// colons, drive streams a slash).
func (s Stream) String() string {
	name := "<nil>"
	if s.Resource != nil {
		name = s.Resource.Name()
	}
	return strconv.FormatInt(s.Connection, 10) + "/" + name + "/" + strconv.Quote(s.User) + "/" + strconv.Quote(s.Container)
}

// ParseStream reads a Stream from its String.
func ParseStream(text string) (Stream, error) {
	bad := func(why string) (Stream, error) {
		return Stream{}, fmt.Errorf("stream %q: %s; want <connection>/<resource>/\"<user>\"/\"<container>\"", text, why)
	}
	conn, rest, ok := strings.Cut(text, "/")
	if !ok {
		return bad("no resource")
	}
	id, err := strconv.ParseInt(conn, 10, 64)
	if err != nil || id <= 0 {
		return bad("the connection is not a positive number")
	}
	name, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no user")
	}
	r, err := ParseResource(name)
	if err != nil {
		return bad(err.Error())
	}
	user, err := strconv.QuotedPrefix(rest)
	if err != nil || len(rest) <= len(user) || rest[len(user)] != '/' {
		return bad("the user is not quoted")
	}
	container := rest[len(user)+1:]
	if q, err := strconv.QuotedPrefix(container); err != nil || q != container {
		return bad("the container is not quoted")
	}
	s := Stream{Connection: id, Resource: r}
	s.User, _ = strconv.Unquote(user)
	s.Container, _ = strconv.Unquote(container)
	return s, nil
}
