package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// s3NS is the namespace of every S3 response document except Error.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// Owner is the canonical user every bucket and object belongs to: Sluice has
// one account.
type Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// The canonical user id of the account (S3 shows 64 hex digits).
const (
	ownerID          = "7573657220736c75696365000000000000000000000000000000000000000000"
	ownerDisplayName = "sluice"
)

func accountOwner() *Owner { return &Owner{ID: ownerID, DisplayName: ownerDisplayName} }

// isoTime formats t as S3 does in XML bodies: UTC with milliseconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// writeXML writes v as an XML document with status.
func (s *Server) writeXML(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		s.WriteError(w, r, sluice.Wrap(sluice.ErrInternal, err, internalMessage))
		return
	}
	writeRawXML(w, status, b.Bytes())
}

// writeRawXML writes an already encoded XML document.
func writeRawXML(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(status)
	_, _ = w.Write(doc)
}

// readIntegrityBody reads a body S3 accepts only with an integrity header
// (Content-MD5 or x-amz-checksum-*: DeleteObjects, tagging, replication
// configurations) and verifies it against that header.
func readIntegrityBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	if !hasBodyChecksum(r.Header) {
		return nil, missingContentMD5()
	}
	if err := verifyBody(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// readCheckedBody reads the whole request body and verifies it against an
// integrity header (Content-MD5, x-amz-checksum-*) when the client sent one.
func readCheckedBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	if err := verifyBody(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// readBody reads the whole request body, at most limit bytes. A longer body
// is MaxMessageLengthExceeded; an error from the body reader (the SigV4
// verifier's XAmzContentSHA256Mismatch, IncompleteBody, ...) is returned as is.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, maxMessageLength(limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var e *sluice.Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, sluice.Wrap(sluice.ErrIncompleteBody, err, "The request body terminated unexpectedly")
	}
	if int64(len(b)) > limit {
		return nil, maxMessageLength(limit)
	}
	return b, nil
}

func maxMessageLength(limit int64) error {
	return sluice.Errorf(sluice.ErrMaxMessageLengthExceeds, "Your request was too big.").
		With("MaxMessageLengthBytes", strconv.FormatInt(limit, 10))
}

func unmarshalXML(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return malformedXML()
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return sluice.Wrap(sluice.ErrMalformedXML, err, malformedXMLMessage)
	}
	// Anything but whitespace, comments or processing instructions after
	// the root element makes the document malformed.
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return sluice.Wrap(sluice.ErrMalformedXML, err, malformedXMLMessage)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return malformedXML()
			}
		case xml.Comment, xml.ProcInst:
		default:
			return malformedXML()
		}
	}
}

const malformedXMLMessage = "The XML you provided was not well-formed or did not validate against our published schema"

func malformedXML() error { return sluice.Errorf(sluice.ErrMalformedXML, malformedXMLMessage) }
