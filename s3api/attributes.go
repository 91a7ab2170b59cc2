package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

func (s *Server) getObjectAttributes(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "GetObjectAttributes is not implemented yet")
}
