package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

// getBucketReplication is GetBucketReplication.
func (s *Server) getBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "GetBucketReplication is not implemented by Sluice")
}

// putBucketReplication is PutBucketReplication.
func (s *Server) putBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "PutBucketReplication is not implemented by Sluice")
}

// deleteBucketReplication is DeleteBucketReplication.
func (s *Server) deleteBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "DeleteBucketReplication is not implemented by Sluice")
}
