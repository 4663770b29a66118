package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// ConnectCommand connects a Microsoft account through the OAuth flow.
type ConnectCommand struct{ *Main }

func (c *ConnectCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("connect", "connect [flags]",
		"Connect a Microsoft account: print the sign-in URL, serve the redirect on GRAPHSYNC_REDIRECT_URL,\n"+
			"redeem the code and store the connection with its tokens encrypted. Works headless.\n"+
			"With --application --tenant ID, connect a whole tenant: print the admin-consent URL, wait for\n"+
			"the consent and sync every user through application permissions.")
	resources := fs.String("resources", "mail", "comma-separated resources to sync; they decide the scopes requested")
	prompt := fs.String("prompt", "", "consent, login or select_account")
	extra := fs.String("extra-scopes", "", "comma-separated delegated scopes to request as well, e.g. Sites.Read.All for a SharePoint token (`connections token`)")
	loginHint := fs.String("login-hint", "", "sign-in name to suggest")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the sign-in")
	allowRemote := fs.Bool("allow-remote-callback", false, "serve the redirect on a non-loopback address")
	application := fs.Bool("application", false, "connect a whole tenant (--tenant, or GRAPHSYNC_TENANT) with application permissions through admin consent")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	rs, err := parseResources(*resources)
	if err != nil {
		return err
	}
	authTenant := cfg.Tenant
	if *application {
		switch strings.ToLower(authTenant) {
		case "", "common", "organizations", "consumers":
			return usageErrorf("--application needs --tenant (or GRAPHSYNC_TENANT) naming one tenant by id or domain, not %q: "+
				"app-only tokens are issued by the tenant, never by /common", authTenant)
		}
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, cert, _ := cfg.Credentials()
	gc, err := graph.NewClient(graph.Config{BaseURL: cfg.GraphURL})
	if err != nil {
		return err
	}
	var extraScopes []string
	for _, x := range strings.Split(*extra, ",") {
		if x = strings.TrimSpace(x); x != "" {
			extraScopes = append(extraScopes, x)
		}
	}
	if *application && len(extraScopes) > 0 {
		return usageErrorf("--extra-scopes is for delegated sign-ins; application permissions are granted in the app registration")
	}
	flow, err := connect.New(connect.Config{Store: st, Graph: gc, Resources: rs, ExtraScopes: extraScopes, Prompt: *prompt, LoginHint: *loginHint,
		StateTTL: *timeout, Logger: humanLogger(c.Stderr), Application: *application,
		Auth: identity.Config{LoginURL: cfg.LoginURL, Tenant: authTenant, ClientID: cfg.ClientID, ClientSecret: secret,
			Certificate: cert, GraphURL: cfg.GraphURL, RedirectURL: cfg.RedirectURL}})
	if err != nil {
		return &usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if _, err := flow.Listen(ctx, *allowRemote); err != nil {
		return err
	}
	if *application {
		fmt.Fprintf(c.Stdout, "A global administrator of tenant %s opens this URL to grant the app its application permissions\n"+
			"(%s, as configured in the app registration):\n\n  %s\n\nWaiting for the consent at %s ...\n",
			authTenant, strings.Join(flow.Scopes(), ", "), flow.Begin(), cfg.RedirectURL)
	} else {
		fmt.Fprintf(c.Stdout, "Open this URL to sign in (scopes: %s):\n\n  %s\n\nWaiting for the redirect to %s ...\n",
			strings.Join(flow.Scopes(), " "), flow.Begin(), cfg.RedirectURL)
	}
	conn, err := flow.Wait(ctx)
	var te *identity.TokenError
	if errors.As(err, &te) && te.Scope() == identity.ScopeApp {
		return usageErrorf("the identity platform refused the app's credentials: %s: check GRAPHSYNC_CLIENT_ID and the client secret "+
			"(GRAPHSYNC_CLIENT_SECRET holds the secret's value, not its ID) [%s]", te.Reason(), te.Code)
	}
	if err != nil {
		return err
	}
	name := conn.UserPrincipalName
	if conn.Kind == store.KindApplication {
		name = "the whole tenant"
	}
	fmt.Fprintf(c.Stdout, "Connected %s (connection %d, tenant %s, resources %s).\n",
		name, conn.ID, conn.TenantID, strings.Join(graphsync.Names(conn.Resources), ","))
	return nil
}

// humanLogger writes warnings as plain lines, without time or level, for
// commands whose output a person reads (connect): no JSON in between.
func humanLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		}}))
}

// parseResources checks a comma-separated list of resources.
func parseResources(s string) ([]*graphsync.Resource, error) {
	rs, err := graphsync.ParseResources(s)
	if err != nil {
		return nil, &usageError{err}
	}
	return rs, nil
}
