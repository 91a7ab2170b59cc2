package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

func (s *Server) putObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "PutObjectTagging is not implemented yet")
}

func (s *Server) getObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "GetObjectTagging is not implemented yet")
}

func (s *Server) deleteObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "DeleteObjectTagging is not implemented yet")
}
