//go:build !linux

package edge

// writeMore writes p; the body follows in packets of its own.
func (c *laneConn) writeMore(p []byte) error {
	_, err := c.nc.Write(p)
	return err
}
