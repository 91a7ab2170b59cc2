package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

// getBucketNotification is GetBucketNotificationConfiguration.
func (s *Server) getBucketNotification(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "GetBucketNotificationConfiguration is not implemented by Sluice")
}

// putBucketNotification is PutBucketNotificationConfiguration.
func (s *Server) putBucketNotification(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "PutBucketNotificationConfiguration is not implemented by Sluice")
}
