package s3api

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// NotificationValidator owns the notification configuration document.
// The notify package implements it (notify.Validator, *notify.Notifier).
//
// UpdateNotification checks a PutBucketNotificationConfiguration document
// as S3 does (event names, filters, overlapping rules, destinations that
// must exist) and returns the normalized document to store, or nil when
// the configuration is empty and the bucket's notifications are to be
// cleared. current is the stored document (nil for none), whose secrets a
// document read back with them redacted keeps. skipDestinations is the
// request's x-amz-skip-destination-validation: destinations are not
// checked for existence. Its errors are
// *sluice.Error with the S3 code (InvalidArgument, MalformedXML,
// NotImplemented).
//
// RedactNotification renders a stored document as
// GetBucketNotificationConfiguration answers it, without the secrets that
// sign webhook deliveries.
type NotificationValidator interface {
	UpdateNotification(ctx context.Context, bucket string, doc, current []byte, skipDestinations bool) (normalized []byte, err error)
	RedactNotification(doc []byte) ([]byte, error)
}

// WithNotifications enables PutBucketNotificationConfiguration, checked by
// v. Without it the operation answers NotImplemented.
func WithNotifications(v NotificationValidator) Option {
	return func(s *Server) { s.notifications = v }
}

// emptyNotification is the answer for a bucket without notifications.
var emptyNotification = []byte(xml.Header + `<NotificationConfiguration xmlns="` + s3NS + `"></NotificationConfiguration>`)

// getBucketNotification is GetBucketNotificationConfiguration. The stored
// document is the normalized answer once its secrets are redacted.
func (s *Server) getBucketNotification(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	doc, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigNotification)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	switch {
	case doc == nil:
		doc = emptyNotification
	case s.notifications == nil:
		// Only the validator knows which parts of the document are
		// secret: without it nothing of a stored one is shown.
		return sluice.Errorf(sluice.ErrNotImplemented, "GetBucketNotificationConfiguration is not implemented by Sluice")
	default:
		if doc, err = s.notifications.RedactNotification(doc); err != nil {
			return fmt.Errorf("redact notification configuration of %q: %w", bucket, err)
		}
	}
	writeRawXML(w, http.StatusOK, doc)
	return nil
}

// putBucketNotification is PutBucketNotificationConfiguration. An empty
// NotificationConfiguration clears the bucket's notifications.
func (s *Server) putBucketNotification(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	nv := s.notifications
	if nv == nil {
		return sluice.Errorf(sluice.ErrNotImplemented, "PutBucketNotificationConfiguration is not implemented by Sluice")
	}
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	body, err := readCheckedBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	current, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigNotification)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	skip, err := skipDestinationValidation(r.Header.Get("X-Amz-Skip-Destination-Validation"))
	if err != nil {
		return err
	}
	doc, err := nv.UpdateNotification(r.Context(), bucket, body, current, skip)
	if err != nil {
		return err
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigNotification, doc); err != nil {
		return storeErr(err, bucket, "")
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// skipDestinationValidation parses x-amz-skip-destination-validation, a
// boolean; absent is false.
func skipDestinationValidation(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, sluice.Errorf(sluice.ErrInvalidArgument, "Invalid value for header x-amz-skip-destination-validation: it must be true or false.").
		With("ArgumentName", "x-amz-skip-destination-validation").With("ArgumentValue", v)
}
