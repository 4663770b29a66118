// Package emulator is a local emulator of Microsoft Graph v1.0 and of the
// Microsoft identity platform's v2.0 endpoints, following Microsoft's
// documentation. It serves a deterministic, seeded tenant over loopback for
// tests, demos and benchmarks.
package emulator
