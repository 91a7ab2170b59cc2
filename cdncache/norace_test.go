//go:build !race

package cdncache

const raceEnabled = false
