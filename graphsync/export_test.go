package graphsync

// SampleMessage is a message as Graph sends it, for the package's external
// tests and benchmarks.
var SampleMessage = sampleMessage
