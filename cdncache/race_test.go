//go:build race

package cdncache

const raceEnabled = true
