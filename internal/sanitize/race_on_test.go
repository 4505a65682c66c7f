//go:build race

package sanitize

// raceEnabled is set when the race detector, which makes sync.Pool drop items, is on.
const raceEnabled = true
