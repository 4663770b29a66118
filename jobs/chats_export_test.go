package jobs

// SetChatMessagePageSize sets the $top of chat message listings and returns
// a function restoring it. Tests calling it must not run in parallel.
func SetChatMessagePageSize(n int) (restore func()) {
	old := chatMessagePageSize
	chatMessagePageSize = n
	return func() { chatMessagePageSize = old }
}
