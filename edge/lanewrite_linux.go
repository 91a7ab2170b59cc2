package edge

import "syscall"

// writeMore writes p with MSG_MORE: the kernel holds it back to go out in
// the same packets as the body that follows (sendfile(2) pushes when it
// ends), instead of as a packet of its own — what nginx's tcp_nopush does
// with TCP_CORK, without the two setsockopt calls per response.
func (c *laneConn) writeMore(p []byte) error {
	if c.raw == nil {
		raw, err := c.tcp.SyscallConn()
		if err != nil {
			_, err = c.nc.Write(p)
			return err
		}
		c.raw, c.more = raw, c.sendMore
	}
	c.pending, c.moreErr = p, nil
	err := c.raw.Write(c.more)
	c.pending = nil
	if err != nil {
		return err
	}
	return c.moreErr
}

// sendMore writes c.pending; false asks to wait until the socket is
// writable and be called again.
func (c *laneConn) sendMore(fd uintptr) bool {
	for len(c.pending) > 0 {
		n, err := syscall.SendmsgN(int(fd), c.pending, nil, nil, syscall.MSG_MORE|syscall.MSG_NOSIGNAL)
		switch err {
		case nil:
			c.pending = c.pending[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.moreErr = err
			return true
		}
	}
	return true
}
