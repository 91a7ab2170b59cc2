//go:build integration

package integration

// End-to-end tests of object versioning: the S3 calls through aws-cli and
// boto3 (py/versioning.py), the records a Python function and a webhook
// receive from a versioned bucket, what a TargetBucket copy mirrors, and
// the template's VersioningConfiguration.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

// cliVersion is what aws-cli prints for one entry of list-object-versions.
type cliVersion struct {
	Key       string
	VersionId string
	IsLatest  bool
	ETag      string
	Size      int64
}

type cliVersions struct {
	Versions      []cliVersion
	DeleteMarkers []cliVersion
}

// awsJSON runs aws-cli, which must succeed, and decodes its output into v
// (an empty output leaves v alone).
func awsJSON(t testing.TB, s *sluiceServer, v any, args ...string) {
	t.Helper()
	out := strings.TrimSpace(awsOK(t, s, args...))
	if out == "" {
		return
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// awsFails runs aws-cli, which must fail with code on stderr.
func awsFails(t testing.TB, s *sluiceServer, code string, args ...string) {
	t.Helper()
	r := awsCLI(t, s, args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "("+code+")") {
		t.Errorf("aws %s: %s\nwant a failure with (%s)", strings.Join(args, " "), r, code)
	}
}

// listVersions returns key's versions and delete markers in bucket.
func listVersions(t testing.TB, s *sluiceServer, bucket, key string) cliVersions {
	t.Helper()
	var out cliVersions
	awsJSON(t, s, &out, "s3api", "list-object-versions", "--bucket", bucket, "--prefix", key)
	return out
}

// TestVersioningAWSCLI walks a key through versioning with aws-cli: the
// versions a PUT makes, GET and HEAD of one version, a DELETE that makes a
// delete marker (and a 404 for the key), removing the marker to restore
// the object, removing a version for good, a suspended bucket's null
// version, and replication refused on a bucket without versioning.
func TestVersioningAWSCLI(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	bucket := bucketName("ver-cli")
	dir := t.TempDir()
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)

	var status struct{ Status string }
	awsJSON(t, s, &status, "s3api", "get-bucket-versioning", "--bucket", bucket)
	if status.Status != "" {
		t.Errorf("a new bucket's versioning is %q, want none", status.Status)
	}
	awsOK(t, s, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	awsJSON(t, s, &status, "s3api", "get-bucket-versioning", "--bucket", bucket)
	if status.Status != "Enabled" {
		t.Fatalf("versioning after put-bucket-versioning Enabled: %q", status.Status)
	}

	put := func(key, body string) string {
		t.Helper()
		path := filepath.Join(dir, "body")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		var out struct{ ETag, VersionId string }
		awsJSON(t, s, &out, "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", path)
		if out.VersionId == "" || out.VersionId == "null" {
			t.Fatalf("put-object in a versioned bucket printed VersionId %q", out.VersionId)
		}
		return out.VersionId
	}
	get := func(key, version string) (string, string) {
		t.Helper()
		path := filepath.Join(dir, "got")
		args := []string{"s3api", "get-object", "--bucket", bucket, "--key", key}
		if version != "" {
			args = append(args, "--version-id", version)
		}
		var out struct{ VersionId string }
		awsJSON(t, s, &out, append(args, path)...)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), out.VersionId
	}

	v1 := put("doc.txt", "first")
	v2 := put("doc.txt", "second")
	if v1 == v2 {
		t.Fatalf("two PUTs made the same version %q", v1)
	}
	if body, v := get("doc.txt", ""); body != "second" || v != v2 {
		t.Errorf("get-object = %q version %q, want the second write, %q", body, v, v2)
	}
	if body, v := get("doc.txt", v1); body != "first" || v != v1 {
		t.Errorf("get-object --version-id %s = %q version %q, want the first write", v1, body, v)
	}
	var head struct{ VersionId string }
	awsJSON(t, s, &head, "s3api", "head-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", v1)
	if head.VersionId != v1 {
		t.Errorf("head-object --version-id %s printed VersionId %q", v1, head.VersionId)
	}
	vs := listVersions(t, s, bucket, "doc.txt")
	if got := []cliVersion{{"doc.txt", v2, true, "", 6}, {"doc.txt", v1, false, "", 5}}; len(vs.Versions) != 2 ||
		!cmp.Equal(got, vs.Versions, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ETag" }, cmp.Ignore())) {
		t.Errorf("list-object-versions = %+v, want %+v", vs.Versions, got)
	}

	// A DELETE without a version id makes a delete marker.
	var del struct {
		DeleteMarker bool
		VersionId    string
	}
	awsJSON(t, s, &del, "s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt")
	if !del.DeleteMarker || del.VersionId == "" || del.VersionId == v1 || del.VersionId == v2 {
		t.Fatalf("delete-object = %+v, want DeleteMarker true and the marker's new VersionId", del)
	}
	marker := del.VersionId
	if r := awsCLI(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "doc.txt"); r.Code == 0 || !strings.Contains(r.Stderr, "404") {
		t.Errorf("head-object on a key whose latest version is a marker: %s\nwant 404", r)
	}
	awsFails(t, s, "NoSuchKey", "s3api", "get-object", "--bucket", bucket, "--key", "doc.txt", filepath.Join(dir, "x"))
	if body, _ := get("doc.txt", v2); body != "second" {
		t.Errorf("the version under the marker reads %q", body)
	}
	vs = listVersions(t, s, bucket, "doc.txt")
	if len(vs.DeleteMarkers) != 1 || vs.DeleteMarkers[0].VersionId != marker || !vs.DeleteMarkers[0].IsLatest || len(vs.Versions) != 2 || vs.Versions[0].IsLatest {
		t.Errorf("list-object-versions after the delete = %+v", vs)
	}

	// Removing the marker restores the object.
	awsJSON(t, s, &del, "s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", marker)
	if !del.DeleteMarker || del.VersionId != marker {
		t.Errorf("delete-object --version-id <marker> = %+v, want DeleteMarker true and the marker's id", del)
	}
	if body, v := get("doc.txt", ""); body != "second" || v != v2 {
		t.Errorf("after removing the marker get-object = %q version %q, want the second write back", body, v)
	}

	// Removing the current version for good makes the one before current.
	del = struct {
		DeleteMarker bool
		VersionId    string
	}{}
	awsJSON(t, s, &del, "s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", v2)
	if del.DeleteMarker || del.VersionId != v2 {
		t.Errorf("delete-object --version-id %s = %+v", v2, del)
	}
	if body, v := get("doc.txt", ""); body != "first" || v != v1 {
		t.Errorf("after removing the current version get-object = %q version %q, want the first write", body, v)
	}
	awsFails(t, s, "NoSuchVersion", "s3api", "get-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", v2, filepath.Join(dir, "x"))

	// Suspended: writes replace the null version.
	awsOK(t, s, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Suspended")
	path := filepath.Join(dir, "body")
	if err := os.WriteFile(path, []byte("null version"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct{ VersionId string }
	awsJSON(t, s, &out, "s3api", "put-object", "--bucket", bucket, "--key", "doc.txt", "--body", path)
	if out.VersionId != "null" {
		t.Errorf("put-object in a suspended bucket printed VersionId %q, want null", out.VersionId)
	}
	if body, _ := get("doc.txt", v1); body != "first" {
		t.Errorf("the versions kept while suspended: %q", body)
	}

	// Replication needs versioning enabled on the source (400 InvalidRequest).
	plain := bucketName("ver-plain")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", plain)
	repl := `{"Role":"arn:aws:iam::000000000000:role/r","Rules":[{"ID":"all","Priority":1,"Status":"Enabled","Filter":{"Prefix":""},` +
		`"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"arn:aws:s3:::` + bucket + `"}}]}`
	awsFails(t, s, "InvalidRequest", "s3api", "put-bucket-replication", "--bucket", plain, "--replication-configuration", repl)
	awsOK(t, s, "s3api", "put-bucket-versioning", "--bucket", plain, "--versioning-configuration", "Status=Enabled")
	awsOK(t, s, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	awsOK(t, s, "s3api", "put-bucket-replication", "--bucket", plain, "--replication-configuration", repl)
}

// TestVersioningBoto3 runs py/versioning.py: paging through versions and
// markers with MaxKeys, GET/HEAD/copy/tagging of one version.
func TestVersioningBoto3(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	if r := runPython(t, s, "versioning.py"); r.Code != 0 {
		t.Errorf("python3 py/versioning.py: %s", r)
	}
}

// TestVersioningEvents: a Python function and a webhook attached to a
// versioned bucket receive ObjectCreated:Put with the version written,
// ObjectRemoved:DeleteMarkerCreated with the marker's id and
// ObjectRemoved:Delete with the id of a version removed for good; a
// TargetBucket copy from the versioned bucket to a versioned target
// mirrors delete markers and never version deletes.
func TestVersioningEvents(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	c := s3Client(s)
	concurrently, wait := sideBySide(t)
	defer wait()
	concurrently("function_and_webhook", func(t *testing.T) { testVersionedRecords(t, s, c) })
	concurrently("target_bucket", func(t *testing.T) { testVersionedTargetBucket(t, s, c) })
}

func enableVersioning(t testing.TB, s *sluiceServer, bucket string) {
	t.Helper()
	awsOK(t, s, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
}

func testVersionedRecords(t *testing.T, s *sluiceServer, c *s3.Client) {
	ctx := context.Background()
	src, out := createBucket(t, c, "ver-ev-src"), createBucket(t, c, "ver-ev-out")
	enableVersioning(t, s, src)

	zipPath := filepath.Join(t.TempDir(), "versions.zip")
	if err := writeZip(zipPath, map[string]string{
		"versions.py": filepath.Join(moduleRoot, "integration", "testdata", "events", "python", "versions.py"),
	}); err != nil {
		t.Fatal(err)
	}
	fn := fnName("ver-py")
	arn := createFunction(t, s, fn, "python3.12", "versions.handler", zipPath, "--environment", "Variables={OUT_BUCKET="+out+"}")["FunctionArn"].(string)
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusOK })
	mustPutNotificationXML(t, s, src, notificationXML(
		`<CloudFunctionConfiguration><Id>fn</Id><CloudFunction>`+arn+`</CloudFunction><Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:*</Event>`+
			`<Filter><S3Key><FilterRule><Name>prefix</Name><Value>fn/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>`,
		webhookRuleXML("hook", recv.srv.URL+"/hook", "", "hook/", "", "s3:ObjectCreated:*", "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRemoved:Delete")))

	type change struct{ name, version string }
	var fnMarker string
	// Each prefix: a PUT, a DELETE (marker), and the PUT's version removed
	// for good.
	want := map[string][]change{}
	for _, prefix := range []string{"fn/", "hook/"} {
		key := prefix + "a b.txt"
		p, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: strings.NewReader("versioned")})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) == "" {
			t.Fatalf("delete of %s: DeleteMarker %v, VersionId %q", key, aws.ToBool(d.DeleteMarker), aws.ToString(d.VersionId))
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(key), VersionId: p.VersionId}); err != nil {
			t.Fatal(err)
		}
		if prefix == "fn/" {
			fnMarker = aws.ToString(d.VersionId)
		}
		want[prefix] = []change{
			{"ObjectCreated:Put", aws.ToString(p.VersionId)},
			{"ObjectRemoved:DeleteMarkerCreated", aws.ToString(d.VersionId)},
			{"ObjectRemoved:Delete", aws.ToString(p.VersionId)},
		}
	}
	sortChanges := func(cs []change) {
		sort.Slice(cs, func(i, j int) bool { return cs[i].name+cs[i].version < cs[j].name+cs[j].version })
	}
	for _, cs := range want {
		sortChanges(cs)
	}

	// The webhook's records.
	var hooked []change
	if err := poll(eventDeadline, func() error {
		hooked = nil
		for _, d := range recv.deliveries() {
			rec := onlyRecord(t, d.Body)
			v, _ := recordField(rec, "s3.object.versionId").(string)
			hooked = append(hooked, change{recordField(rec, "eventName").(string), v})
			if k := recordField(rec, "s3.object.key"); k != "hook/a+b.txt" {
				t.Errorf("webhook record for key %v", k)
			}
		}
		if len(hooked) < 3 {
			return fmt.Errorf("%d of 3 records", len(hooked))
		}
		return nil
	}); err != nil {
		t.Fatalf("webhook: %v", err)
	}
	sortChanges(hooked)
	if diff := cmp.Diff(want["hook/"], hooked, cmp.AllowUnexported(change{})); diff != "" {
		t.Errorf("webhook records (-want +got):\n%s", diff)
	}

	// The function's: one marker object per record.
	var seen []change
	if err := poll(eventDeadline, func() error {
		l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(out)})
		if err != nil {
			return err
		}
		seen = nil
		for _, o := range l.Contents {
			parts := strings.SplitN(aws.ToString(o.Key), "/", 3)
			if len(parts) != 3 || parts[2] != "fn/a b.txt" {
				t.Errorf("function marker %q", aws.ToString(o.Key))
				continue
			}
			seen = append(seen, change{parts[0], parts[1]})
		}
		if len(seen) < 3 {
			return fmt.Errorf("%d of 3 records", len(seen))
		}
		return nil
	}); err != nil {
		t.Fatalf("function: %v", err)
	}
	sortChanges(seen)
	if diff := cmp.Diff(want["fn/"], seen, cmp.AllowUnexported(change{})); diff != "" {
		t.Errorf("function records (-want +got):\n%s", diff)
	}
	// A marker's record has no eTag and no size, as S3's.
	body, _, found, err := getBytes(c, out, "ObjectRemoved:DeleteMarkerCreated/"+fnMarker+"/fn/a b.txt")
	if err != nil || !found {
		t.Fatalf("marker record: %v %v", found, err)
	}
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"s3.object.eTag", "s3.object.size"} {
		if v := recordField(rec, absent); v != nil {
			t.Errorf("delete marker record has %s = %v", absent, v)
		}
	}
	if s, _ := recordField(rec, "s3.object.sequencer").(string); s == "" {
		t.Error("delete marker record has no sequencer")
	}
}

func testVersionedTargetBucket(t *testing.T, s *sluiceServer, c *s3.Client) {
	ctx := context.Background()
	src, dst := createBucket(t, c, "ver-tb-src"), createBucket(t, c, "ver-tb-dst")
	enableVersioning(t, s, src)
	enableVersioning(t, s, dst)
	tagTargetBucket(t, c, src, dst)
	const key = "k.txt"
	var versions []string
	for _, body := range []string{"one", "two"} {
		p, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, aws.ToString(p.VersionId))
	}
	// Each version reports its own replication status, the older one too.
	for _, v := range versions {
		if err := poll(eventDeadline, func() error {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(src), Key: aws.String(key), VersionId: aws.String(v)})
			if err != nil {
				return err
			}
			if h.ReplicationStatus != "COMPLETED" {
				return fmt.Errorf("version %s: replication status %q", v, h.ReplicationStatus)
			}
			return nil
		}); err != nil {
			t.Errorf("source: %v", err)
		}
	}
	del := func(version string) string {
		t.Helper()
		in := &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(key)}
		if version != "" {
			in.VersionId = aws.String(version)
		}
		out, err := c.DeleteObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	// Not mirrored: a version removed for good, then a marker removed.
	// Mirrored: the two markers. The events of one key are applied in
	// order, so once the second marker is in the target, the version
	// deletes before it have been handled too.
	del(versions[1])
	m1 := del("")
	del(m1)
	del("")

	var markers, bodies []string
	if err := poll(eventDeadline, func() error {
		l, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(dst), Prefix: aws.String(key)})
		if err != nil {
			return err
		}
		if len(l.DeleteMarkers) < 2 {
			return fmt.Errorf("%d of 2 delete markers in the target", len(l.DeleteMarkers))
		}
		markers, bodies = nil, nil
		for _, m := range l.DeleteMarkers {
			markers = append(markers, fmt.Sprintf("latest=%v", aws.ToBool(m.IsLatest)))
		}
		for _, v := range l.Versions {
			o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(dst), Key: aws.String(key), VersionId: v.VersionId})
			if err != nil {
				return err
			}
			bodies = append(bodies, readAllString(o))
		}
		return nil
	}); err != nil {
		t.Fatalf("target: %v", err)
	}
	if diff := cmp.Diff([]string{"latest=true", "latest=false"}, markers); diff != "" {
		t.Errorf("target's delete markers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"two", "one"}, bodies); diff != "" {
		t.Errorf("target's versions, newest first (-want +got):\n%s", diff)
	}
	if _, _, found, err := getBytes(c, dst, key); err != nil || found {
		t.Errorf("target key after the markers: found %v, %v; want a 404", found, err)
	}
	o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(src), Key: aws.String(key), VersionId: aws.String(versions[0])})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAllString(o); body != "one" {
		t.Errorf("source's first version reads %q", body)
	}
}

func readAllString(o *s3.GetObjectOutput) string {
	defer o.Body.Close()
	b, _ := io.ReadAll(o.Body)
	return string(b)
}

// versionedTemplate replicates Photos into Backup, both versioned.
const versionedTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Photos:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: %[1]s-photos
      VersioningConfiguration: {Status: Enabled}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/replication
        Rules:
          - Id: all
            Priority: 1
            Status: Enabled
            Filter: {Prefix: ""}
            DeleteMarkerReplication: {Status: Enabled}
            Destination: {Bucket: !GetAtt Backup.Arn}
  Backup:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: %[1]s-backup
      VersioningConfiguration: {Status: Enabled}
Outputs:
  Photos:
    Value: !Ref Photos
`

// TestVersioningTemplate: a template's VersioningConfiguration is applied
// before its ReplicationConfiguration, which then replicates versions and
// delete markers; a ReplicationConfiguration on a bucket without
// versioning is a template mistake, reported with its position.
func TestVersioningTemplate(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	badBody := "AWSTemplateFormatVersion: \"2010-09-09\"\n" + strings.Join(strings.Split(versionedTemplate, "\n")[1:], "\n")
	badBody = strings.Replace(badBody, "      BucketName: %[1]s-photos\n      VersioningConfiguration: {Status: Enabled}\n", "", 1)
	if err := os.WriteFile(bad, []byte(fmt.Sprintf(badBody, "bad")), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := runCmd(t, ctx, cleanEnv(), dir, sluiceBin, "validate", "-t", bad)
	want := "bad.yaml:6:7: Resources.Photos.Properties.ReplicationConfiguration: needs versioning: add VersioningConfiguration: {Status: Enabled} to the bucket"
	if res.Code != 1 || !strings.Contains(res.Stdout, want) {
		t.Errorf("validate of a replicated bucket without versioning: %s\nwant exit 1 and %q", res, want)
	}

	prefix := "tv" + randSuffix(6)
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(versionedTemplate, prefix)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSluice(t, withArgs("-t", path, "--stack-name", "versioned"))
	waitOutputs(t, s, 0)
	photos, backup := prefix+"-photos", prefix+"-backup"
	for _, b := range []string{photos, backup} {
		var status struct{ Status string }
		awsJSON(t, s, &status, "s3api", "get-bucket-versioning", "--bucket", b)
		if status.Status != "Enabled" {
			t.Errorf("versioning of %s = %q, want Enabled", b, status.Status)
		}
	}
	var repl struct {
		ReplicationConfiguration struct{ Rules []struct{ ID string } }
	}
	awsJSON(t, s, &repl, "s3api", "get-bucket-replication", "--bucket", photos)
	if len(repl.ReplicationConfiguration.Rules) != 1 || repl.ReplicationConfiguration.Rules[0].ID != "all" {
		t.Errorf("replication of %s = %+v", photos, repl)
	}

	c := s3Client(s)
	bg := context.Background()
	put, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(photos), Key: aws.String("cat.jpg"), Body: strings.NewReader("meow")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String(photos), Key: aws.String("cat.jpg")}); err != nil {
		t.Fatal(err)
	}
	if err := poll(eventDeadline, func() error {
		l, err := c.ListObjectVersions(bg, &s3.ListObjectVersionsInput{Bucket: aws.String(backup)})
		if err != nil {
			return err
		}
		if len(l.Versions) != 1 || len(l.DeleteMarkers) != 1 || !aws.ToBool(l.DeleteMarkers[0].IsLatest) {
			return fmt.Errorf("backup holds %d versions and %d markers, want the copy under a marker", len(l.Versions), len(l.DeleteMarkers))
		}
		if aws.ToString(l.Versions[0].ETag) != aws.ToString(put.ETag) {
			return fmt.Errorf("backup's version has ETag %s, want %s", aws.ToString(l.Versions[0].ETag), aws.ToString(put.ETag))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	o, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: aws.String(photos), Key: aws.String("cat.jpg"), VersionId: put.VersionId})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAllString(o); got != "meow" || o.ReplicationStatus != "COMPLETED" {
		t.Errorf("source version: %q, replication status %q; want meow, COMPLETED", got, o.ReplicationStatus)
	}
}
