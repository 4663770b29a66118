package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/jobs"
)

const (
	// fleetTenantSize is how many of the idle fleet's users share a tenant.
	fleetTenantSize = 10
	// fleetSyncWorkers is the fleet worker's --sync-workers.
	fleetSyncWorkers = 100
)

// idleFleet measures one incremental pass over many connections with
// nothing new: what a worker spends to learn that nothing changed.
func idleFleet(ctx context.Context, o *Options, rep *Report) error {
	const name = "fleet"
	conns := o.Fleet
	if conns == 0 {
		conns = o.size(10_000, 300)
	}
	resources := slices.Clone(graphsync.Resources)
	// Connections are users of many organisations, fleetTenantSize each:
	// Teams and OneDrive limit requests per app per tenant, so one tenant
	// of 10,000 users cannot be polled in a minute by anyone (see the
	// floor reported below).
	tenants := max(1, conns/fleetTenantSize)
	e, err := o.newEnv(ctx, name, emulator.Config{Users: conns, Tenants: tenants, MessagesPerUser: 2, EventsPerUser: 1, DriveItemsPerUser: 1,
		ChatsPerUser: 1, ChatMessagesPerChat: 1, PeoplePerUser: 1, ContactsPerUser: 1})
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, resources); err != nil {
		return err
	}
	// An idle job waits on Graph and PostgreSQL far more than it computes:
	// a large fleet wants many at once (graphsync worker --sync-workers).
	// The interval check of chats (every sync interval) is measured on its
	// own below: the idle pass must not meet it however long the initial
	// pass takes.
	tune := func(c *WorkerConfig) { c.SyncWorkers = fleetSyncWorkers; c.EditCheck = 24 * time.Hour }
	w, err := e.startWorker(ctx, name, tune)
	if err != nil {
		return err
	}
	defer func() { w.stop() }()
	if _, initial, err := e.pass(ctx, 30*time.Minute); err != nil {
		return fmt.Errorf("initial pass: %w", err)
	} else {
		o.logf("%s: initial pass in %s", name, initial.Round(time.Millisecond))
	}

	e.em.ResetCounters()
	s0, err := w.stats()
	if err != nil {
		return err
	}
	cpu0, _ := w.cpu()
	// A scheduled pass: incremental, as the scheduler queues it.
	jobsN, dur, err := e.pass(ctx, 30*time.Minute, jobs.Incremental)
	if err != nil {
		return fmt.Errorf("idle pass: %w", err)
	}
	cpu1, _ := w.cpu()
	s1, err := w.stats()
	if err != nil {
		return err
	}
	idle := e.em.Counters()
	var requests int64
	for route, byStatus := range idle.Requests {
		var r int64
		for _, n := range byStatus {
			r += n
		}
		if route != "$batch" {
			// Graph evaluates the requests inside a batch, not the batch.
			requests += r
		}
		o.logf("%s: idle pass: %d requests to %s %v", name, r, route, byStatus)
	}
	idleListings := chatListings(e.em.Counters())
	if rows, err := e.pool.Query(ctx, `SELECT resource, count(*), count(*) FILTER (WHERE delta_link <> ''), count(*) FILTER (WHERE stream = '')
		FROM sync_state GROUP BY resource ORDER BY resource`); err == nil {
		for rows.Next() {
			var res string
			var all, withLink, top int
			if rows.Scan(&res, &all, &withLink, &top) == nil {
				o.logf("%s: sync_state %s: %d rows, %d with a delta link, %d top-level", name, res, all, withLink, top)
			}
		}
		rows.Close()
	}
	var streams int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM sync_state WHERE stream <> ''").Scan(&streams); err != nil {
		return err
	}
	if streams == 0 {
		return fmt.Errorf("no stream checkpointed after the initial pass")
	}
	queries := s1.Queries - s0.Queries
	perStream := float64(requests) / float64(streams)
	rep.add(name, fmt.Sprintf("connections × resources (%s)", strings.Join(graphsync.Names(resources), ", ")), fmt.Sprintf("%s × %d", count(conns), len(resources)), "10,000 × 5", ptr(conns >= 10_000 && len(resources) >= 5))
	rep.add(name, "tenants the connections belong to", fmt.Sprintf("%s (%d users each)", count(tenants), fleetTenantSize), "", nil)
	rep.add(name, "streams (delta collections, chat and People lists)", count(streams), "", nil)
	rep.add(name, fmt.Sprintf("idle pass wall time (one worker process, --sync-workers %d)", fleetSyncWorkers), dur.Round(100*time.Millisecond).String(), "", nil)
	at10k := time.Duration(float64(dur) * 10_000 / float64(conns))
	label := "idle pass wall time for 10,000 connections"
	if conns != 10_000 {
		label += " (extrapolated linearly)"
	}
	rep.add(name, label, at10k.Round(time.Second).String(), "< 60s", ptr(at10k < time.Minute))
	// Microsoft's per-tenant limits put a floor under a pass of 10,000
	// users in one tenant: one chat list each at 20 requests/s (Teams), and
	// one drive delta each at 1,200 resource units/min (OneDrive, smallest
	// tier; 1 unit per delta with a token).
	const teamsPerSecond, driveUnitsPerMinute = 20, 1200
	floor := max(10_000*time.Second/teamsPerSecond, 10_000*time.Minute/driveUnitsPerMinute)
	rep.add(name, "floor for 10,000 users of one tenant at Microsoft's per-tenant limits", floor.Round(time.Second).String(), "", nil)
	rep.add(name, "Graph requests per stream (each request of a JSON batch counted, the batch not)", fmt.Sprintf("%.2f", perStream), "≤ 1", ptr(perStream <= 1.0001))
	rep.add(name, "Postgres statements per stream (River's included)", fmt.Sprintf("%.1f", float64(queries)/float64(streams)), "", nil)
	rep.add(name, "River jobs per second", perSec(float64(jobsN)/dur.Seconds()), "", nil)
	rep.add(name, "worker CPU per job", fmt.Sprintf("%.1f ms", (cpu1-cpu0).Seconds()*1000/float64(jobsN)), "", nil)

	// Once per sync interval every chat's messages are listed from its
	// watermark, which finds edits and deletions no preview shows: a
	// thorough pass costs what that check costs.
	var chats int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM chats WHERE deleted_at IS NULL").Scan(&chats); err != nil {
		return err
	}
	e.em.ResetCounters()
	if _, _, err := e.pass(ctx, 30*time.Minute); err != nil {
		return fmt.Errorf("pass with the interval check due: %w", err)
	}
	checkListings := chatListings(e.em.Counters())
	rep.add(name, "chat message listings in an idle scheduled pass (no new message)", count(int(idleListings)), "0", ptr(idleListings == 0))
	perChat := float64(checkListings) / float64(max(chats, 1))
	rep.add(name, fmt.Sprintf("chat message listings per chat when the interval check is due (%s chats)", count(chats)),
		fmt.Sprintf("%.2f", perChat), "≤ 1", ptr(chats > 0 && perChat <= 1.0001))
	// Teams allows 20 chat message reads per second per app and tenant:
	// the check of a tenant's chats must fit in the sync interval.
	rep.add(name, "chat message reads per second for one tenant of 10,000 users × 20 chats, checked every 5 min",
		fmt.Sprintf("%.0f (Teams allows 20 per tenant)", perChat*10_000*20/300), "", nil)

	// The same idle pass with each request sent on its own: what the JSON
	// batches of a connection's first pages save in round trips (Graph
	// still counts every request inside a batch against the limits).
	w.stop()
	if w, err = e.startWorker(ctx, name+"-nobatch", func(c *WorkerConfig) { tune(c); c.NoBatch = true }); err != nil {
		return err
	}
	e.em.ResetCounters()
	if _, _, err := e.pass(ctx, 30*time.Minute, jobs.Incremental); err != nil {
		return fmt.Errorf("idle pass without batching: %w", err)
	}
	single := e.em.Counters()
	perMailbox := float64(streams) / float64(conns)
	batched, alone := float64(idle.RoundTrips)/float64(conns), float64(single.RoundTrips)/float64(conns)
	rep.add(name, fmt.Sprintf("HTTP round trips per mailbox in an idle pass (%.1f streams each): batched / one by one", perMailbox),
		fmt.Sprintf("%.2f / %.2f (%.1f× fewer)", batched, alone, alone/max(batched, 0.01)), "≥ 3× fewer (≥ 6 streams)",
		ptr(perMailbox >= 6 && alone >= 3*batched))
	return nil
}

// chatListings counts the requests that listed a chat's messages.
func chatListings(c emulator.Counters) int64 {
	var n int64
	for route, byStatus := range c.Requests {
		if strings.Contains(route, "chats/") && strings.HasSuffix(route, "/messages") {
			for _, k := range byStatus {
				n += k
			}
		}
	}
	return n
}
