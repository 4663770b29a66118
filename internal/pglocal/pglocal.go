// Package pglocal finds a PostgreSQL server for graphsync's tests, demo and
// benchmarks: the one named by an environment variable when it answers, or
// else a throwaway cluster started with the server binaries installed on this
// machine (installing Debian's postgresql package when they are missing).
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running PostgreSQL server. A Cluster started by Start owns a
// data directory and stops the server on Stop; one found through an
// environment variable is left alone.
type Cluster struct {
	URL string // connection string for the "postgres" database

	dir     string
	binDir  string
	asUser  string // run pg_ctl as this OS user (initdb refuses root)
	logPath string
	owned   bool
}

// Options tunes Start.
type Options struct {
	// Dir holds the cluster; empty means a new temporary directory removed on Stop.
	Dir string
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
	// Settings are extra server settings (-c name=value).
	Settings map[string]string
}

// Reachable reports whether url answers a connection within a few seconds.
func Reachable(ctx context.Context, url string) bool {
	if url == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx) == nil
}

// FromEnv returns a Cluster for the first of the named environment variables
// whose URL answers, or starts a throwaway one.
func FromEnv(ctx context.Context, opts Options, vars ...string) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, v := range vars {
		url := os.Getenv(v)
		if url == "" {
			continue
		}
		if Reachable(ctx, url) {
			log.Info("using PostgreSQL from environment", "var", v)
			return &Cluster{URL: url}, nil
		}
		log.Warn("PostgreSQL from environment does not answer; starting a throwaway cluster", "var", v)
	}
	return Start(ctx, opts)
}

// Start initialises and starts a new cluster on a free loopback port.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	binDir, err := findBinDir(ctx, log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{binDir: binDir, owned: true}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		if _, err := user.Lookup(c.asUser); err != nil {
			return nil, fmt.Errorf("start postgres: running as root needs the %q OS user (install Debian's postgresql package): %w", c.asUser, err)
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "graphsync-pg-")
		if err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c.dir, _ = filepath.Abs(dir)
	dataDir := filepath.Join(c.dir, "data")
	sockDir := filepath.Join(c.dir, "sock")
	c.logPath = filepath.Join(c.dir, "postgres.log")
	if err := os.MkdirAll(sockDir, 0o700); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if c.asUser != "" {
		if out, err := exec.CommandContext(ctx, "chown", "-R", c.asUser, c.dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("start postgres: chown %s: %v: %s", c.dir, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		log.Info("initialising throwaway PostgreSQL cluster", "dir", dataDir)
		if err := c.run(ctx, "initdb", "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
			return nil, fmt.Errorf("start postgres: initdb: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": sockDir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "300",
		"shared_buffers":          "256MB",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var o []string
	for _, k := range keys {
		o = append(o, fmt.Sprintf("-c %s=%s", k, settings[k]))
	}
	if err := c.run(ctx, "pg_ctl", "-D", dataDir, "-l", c.logPath, "-o", strings.Join(o, " "), "-w", "-t", "60", "start"); err != nil {
		tail, _ := os.ReadFile(c.logPath)
		return nil, fmt.Errorf("start postgres: pg_ctl start: %w\n%s", err, lastLines(string(tail), 15))
	}
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	log.Info("throwaway PostgreSQL started", "port", port)
	return c, nil
}

// DataDir is the cluster's data directory, empty for a server not started here.
func (c *Cluster) DataDir() string {
	if !c.owned {
		return ""
	}
	return filepath.Join(c.dir, "data")
}

// Restart restarts an owned cluster with immediate shutdown, as a crash would.
func (c *Cluster) Restart(ctx context.Context) error {
	if !c.owned {
		return errors.New("restart postgres: server not started by graphsync")
	}
	return c.run(ctx, "pg_ctl", "-D", c.DataDir(), "-l", c.logPath, "-m", "immediate", "-w", "restart")
}

// Stop stops an owned cluster and removes its directory when it was temporary.
func (c *Cluster) Stop() error {
	if c == nil || !c.owned {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "-D", c.DataDir(), "-m", "fast", "-w", "stop")
	if strings.HasPrefix(filepath.Base(c.dir), "graphsync-pg-") {
		if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	if err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, bin string, args ...string) error {
	path := filepath.Join(c.binDir, bin)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", bin, err, lastLines(string(out), 10))
	}
	return nil
}

// findBinDir locates initdb and pg_ctl, installing Debian's postgresql
// package when none are present and this process may do so.
func findBinDir(ctx context.Context, log *slog.Logger) (string, error) {
	if dir := lookBinDir(); dir != "" {
		return dir, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found: install them (Debian: sudo apt-get install postgresql) or set DATABASE_URL to a running server")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found and no apt-get to install them: install PostgreSQL 14 or later, or set DATABASE_URL to a running server")
	}
	log.Info("installing Debian's postgresql package (server binaries are missing)")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w: %s", args[0], err, lastLines(string(out), 10))
		}
	}
	if dir := lookBinDir(); dir != "" {
		return dir, nil
	}
	return "", errors.New("installed postgresql but still found no initdb: set DATABASE_URL to a running server")
}

func lookBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	// Debian keeps server binaries in a versioned directory off PATH.
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		return filepath.Dir(m)
	}
	return ""
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Bin returns the path of a PostgreSQL client or server program (pg_dump,
// psql, ...), preferring the versioned server directory Debian uses.
func Bin(name string) (string, error) {
	if dir := lookBinDir(); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL program %s not found: install Debian's postgresql-client", name)
	}
	return p, nil
}

// WithDatabase points a connection string, URL or keyword/value, at db.
func WithDatabase(conn, db string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		if u, err := url.Parse(conn); err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return conn + " dbname=" + db
}

// CreateDatabase creates database name on the server at serverURL and
// returns its URL.
func CreateDatabase(ctx context.Context, serverURL, name string) (string, error) {
	if err := exec1(ctx, serverURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return WithDatabase(serverURL, name), nil
}

// DropDatabase drops database name on the server at serverURL, closing its
// connections.
func DropDatabase(ctx context.Context, serverURL, name string) error {
	if err := exec1(ctx, serverURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func exec1(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
