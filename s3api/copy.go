package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "CopyObject is not implemented yet")
}

func parseCopySource(h http.Header) (bucket, key, versionID string, err error) {
	return "", "", "", sluice.Errorf(sluice.ErrNotImplemented, "copy sources are not implemented yet")
}

func checkCopySourceConditions(h http.Header, info sluice.ObjectInfo) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "copy source conditions are not implemented yet")
}
