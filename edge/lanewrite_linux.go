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
		c.raw = raw
	}
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for len(p) > 0 {
			n, err := syscall.SendmsgN(int(fd), p, nil, nil, syscall.MSG_MORE|syscall.MSG_NOSIGNAL)
			switch err {
			case nil:
				p = p[n:]
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				werr = err
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
