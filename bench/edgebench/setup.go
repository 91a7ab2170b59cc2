package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Buckets and the built-in the bench configures in sluice.
const (
	hitsBucket   = "edge-hits"
	photosBucket = "edge-photos"
	freshBucket  = "edge-fresh"
	resizeARN    = "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"
)

// sluiceSetup is sluice's S3 and CloudFront side of the bench.
type sluiceSetup struct {
	s3 *benchkit.S3Client
	cf *cloudfront.Client
}

func (b *bench) sluiceClients() *sluiceSetup {
	if b.sl == nil {
		base := b.sluice.BaseURL()
		b.sl = &sluiceSetup{
			s3: benchkit.NewS3Client(base, b.cfg.AccessKey, b.cfg.SecretKey, b.cfg.Region, 16),
			cf: cloudfront.New(cloudfront.Options{
				Region:       b.cfg.Region,
				BaseEndpoint: aws.String(base),
				Credentials:  credentials.NewStaticCredentialsProvider(b.cfg.AccessKey, b.cfg.SecretKey, ""),
				HTTPClient:   &http.Client{Timeout: 30 * time.Second},
			}),
		}
	}
	return b.sl
}

func (s *sluiceSetup) createBucket(ctx context.Context, bucket string) error {
	if _, err := s.s3.DoOK(ctx, http.MethodPut, "/"+bucket, nil, nil); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

func (s *sluiceSetup) put(ctx context.Context, bucket, key, contentType string, data []byte) error {
	body := benchkit.NewBody(data)
	hdr := http.Header{"Content-Type": {contentType}}
	if _, err := s.s3.DoOK(ctx, http.MethodPut, "/"+bucket+"/"+key, hdr, &body); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// distSpec is the part of a distribution that differs between phases.
type distSpec struct {
	bucket    string
	comment   string
	cacheKeys []string // query parameters in the cache key (and forwarded); nil: no query string
	compress  bool
	resize    bool // sluice-image-resize at origin-response
}

// distributionConfig is a CloudFront DistributionConfig for one S3
// origin, as a user would write it with the legacy cache settings
// (ForwardedValues, TTLs) the familiar image-resize recipe uses.
func distributionConfig(d distSpec, region, callerRef string) *cftypes.DistributionConfig {
	originID := "s3-" + d.bucket
	fv := &cftypes.ForwardedValues{
		QueryString: aws.Bool(len(d.cacheKeys) > 0),
		Cookies:     &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone},
	}
	if len(d.cacheKeys) > 0 {
		fv.QueryStringCacheKeys = &cftypes.QueryStringCacheKeys{Quantity: aws.Int32(int32(len(d.cacheKeys))), Items: d.cacheKeys}
	}
	beh := &cftypes.DefaultCacheBehavior{
		TargetOriginId:       aws.String(originID),
		ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
		ForwardedValues:      fv,
		MinTTL:               aws.Int64(0),
		DefaultTTL:           aws.Int64(86400),
		MaxTTL:               aws.Int64(31536000),
		Compress:             aws.Bool(d.compress),
	}
	if d.resize {
		beh.LambdaFunctionAssociations = &cftypes.LambdaFunctionAssociations{
			Quantity: aws.Int32(1),
			Items: []cftypes.LambdaFunctionAssociation{{
				EventType:         cftypes.EventTypeOriginResponse,
				LambdaFunctionARN: aws.String(resizeARN),
				IncludeBody:       aws.Bool(false),
			}},
		}
	}
	return &cftypes.DistributionConfig{
		CallerReference: aws.String(callerRef),
		Comment:         aws.String(d.comment),
		Enabled:         aws.Bool(true),
		Origins: &cftypes.Origins{
			Quantity: aws.Int32(1),
			Items: []cftypes.Origin{{
				Id:             aws.String(originID),
				DomainName:     aws.String(d.bucket + ".s3." + region + ".amazonaws.com"),
				S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
			}},
		},
		DefaultCacheBehavior: beh,
	}
}

// createDistribution creates a distribution through the CloudFront API and
// returns the Host its edge answers to.
func (s *sluiceSetup) createDistribution(ctx context.Context, d distSpec, region string) (string, error) {
	ref := fmt.Sprintf("edgebench-%s-%d", d.bucket, time.Now().UnixNano())
	out, err := s.cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: distributionConfig(d, region, ref)})
	if err != nil {
		return "", fmt.Errorf("CreateDistribution for %s: %w", d.bucket, err)
	}
	if out.Distribution == nil || out.Distribution.Id == nil {
		return "", fmt.Errorf("CreateDistribution for %s: no distribution in the answer", d.bucket)
	}
	return distHost(*out.Distribution.Id), nil
}

// distHost is the Host the edge picks a distribution by.
func distHost(id string) string { return strings.ToLower(id) + ".localhost" }

// edgeGet is one GET through the edge on a fresh connection, for setup and
// checks outside measured windows.
func (b *bench) edgeGet(host, target string, keep bool, extra ...string) (response, error) {
	c, err := dial(b.edgeAddr)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	r, err := c.do(getRequest(host, target, extra...), keep, 30*time.Second)
	if err == errConnClose {
		err = nil
	}
	return r, err
}

// warmHit requests target through the edge until it is served from the
// cache, so that a measured window holds hits only.
func (b *bench) warmHit(ctx context.Context, host, target string, size int64) error {
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r, err := b.edgeGet(host, target, false)
		switch {
		case err != nil:
			last = err.Error()
		case r.status != http.StatusOK:
			last = fmt.Sprintf("HTTP %d", r.status)
		case r.n != size:
			last = fmt.Sprintf("%d bytes, want %d", r.n, size)
		case strings.HasPrefix(r.xCache, "Hit"):
			return nil
		default:
			last = fmt.Sprintf("X-Cache %q", r.xCache)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("edge never served %s from its cache within 10s: last answer %s", target, last)
}

// setupPhotos uploads every photo to the photos bucket and creates the
// resizing distribution.
func (b *bench) setupPhotos(ctx context.Context) (string, error) {
	s := b.sluiceClients()
	if err := s.createBucket(ctx, photosBucket); err != nil {
		return "", err
	}
	for _, p := range b.photos {
		data, err := os.ReadFile(filepath.Join(b.cfg.PhotosDir, p.File))
		if err != nil {
			return "", fmt.Errorf("read photo: %w", err)
		}
		if !bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
			return "", fmt.Errorf("photo %s is not a JPEG", p.File)
		}
		if err := s.put(ctx, photosBucket, p.File, "image/jpeg", data); err != nil {
			return "", err
		}
	}
	return s.createDistribution(ctx, distSpec{bucket: photosBucket, comment: "edgebench resize", cacheKeys: []string{"d"}, resize: true}, b.cfg.Region)
}
