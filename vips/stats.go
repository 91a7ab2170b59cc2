package vips

// #include "bridge.h"
import "C"

// libvipsUsage reports libvips' tracked memory and allocations and its live
// objects; tests use it to prove every call releases what it takes.
func libvipsUsage() (mem uint64, allocs, objects int) {
	return uint64(C.sl_tracked_mem()), int(C.sl_tracked_allocs()), int(C.sl_live_objects())
}
