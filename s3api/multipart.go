package s3api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

func (s *Server) createMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "CreateMultipartUpload is not implemented yet")
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "UploadPart is not implemented yet")
}

func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "UploadPartCopy is not implemented yet")
}

func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "CompleteMultipartUpload is not implemented yet")
}

func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "AbortMultipartUpload is not implemented yet")
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "ListParts is not implemented yet")
}

func (s *Server) listMultipartUploads(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "ListMultipartUploads is not implemented yet")
}
