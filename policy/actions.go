package policy

// resourceKind says what an S3 action can be granted on. A bucket policy can
// only grant actions on its bucket and the bucket's objects; the kinds let
// Parse reject statements whose actions apply to none of their resources,
// as S3 does.
type resourceKind uint8

const (
	kindObject resourceKind = 1 << iota
	kindBucket
	// kindOther covers account, access point, job and Storage Lens actions:
	// valid names that a bucket policy can never grant.
	kindOther
)

// s3Actions maps every S3 action name (lower-case, without the "s3:"
// prefix) to the resources it applies to, after the IAM service
// authorization reference for Amazon S3.
var s3Actions = buildActions()

func buildActions() map[string]resourceKind {
	m := make(map[string]resourceKind, 160)
	for kind, names := range map[resourceKind][]string{
		kindObject: {
			"AbortMultipartUpload", "BypassGovernanceRetention", "DeleteObject",
			"DeleteObjectTagging", "DeleteObjectVersion", "DeleteObjectVersionTagging",
			"GetObject", "GetObjectAcl", "GetObjectAttributes", "GetObjectLegalHold",
			"GetObjectRetention", "GetObjectTagging", "GetObjectTorrent", "GetObjectVersion",
			"GetObjectVersionAcl", "GetObjectVersionAttributes", "GetObjectVersionForReplication",
			"GetObjectVersionTagging", "GetObjectVersionTorrent", "InitiateReplication",
			"ListMultipartUploadParts", "ObjectOwnerOverrideToBucketOwner", "PutObject",
			"PutObjectAcl", "PutObjectLegalHold", "PutObjectRetention", "PutObjectTagging",
			"PutObjectVersionAcl", "PutObjectVersionTagging", "RenameObject", "ReplicateDelete",
			"ReplicateObject", "ReplicateTags", "RestoreObject",
		},
		kindBucket: {
			"CreateBucket", "CreateBucketMetadataTableConfiguration", "DeleteBucket",
			"DeleteBucketMetadataTableConfiguration", "DeleteBucketOwnershipControls",
			"DeleteBucketPolicy", "DeleteBucketWebsite", "GetAccelerateConfiguration",
			"GetAnalyticsConfiguration", "GetBucketAcl", "GetBucketCORS", "GetBucketLocation",
			"GetBucketLogging", "GetBucketMetadataTableConfiguration", "GetBucketNotification",
			"GetBucketObjectLockConfiguration", "GetBucketOwnershipControls", "GetBucketPolicy",
			"GetBucketPolicyStatus", "GetBucketPublicAccessBlock", "GetBucketRequestPayment",
			"GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite",
			"GetEncryptionConfiguration", "GetIntelligentTieringConfiguration",
			"GetInventoryConfiguration", "GetLifecycleConfiguration", "GetMetricsConfiguration",
			"GetReplicationConfiguration", "ListBucket", "ListBucketMultipartUploads",
			"ListBucketVersions", "PutAccelerateConfiguration", "PutAnalyticsConfiguration",
			"PutBucketAcl", "PutBucketCORS", "PutBucketLogging", "PutBucketNotification",
			"PutBucketObjectLockConfiguration", "PutBucketOwnershipControls", "PutBucketPolicy",
			"PutBucketPublicAccessBlock", "PutBucketRequestPayment", "PutBucketTagging",
			"PutBucketVersioning", "PutBucketWebsite", "PutEncryptionConfiguration",
			"PutIntelligentTieringConfiguration", "PutInventoryConfiguration",
			"PutLifecycleConfiguration", "PutMetricsConfiguration", "PutReplicationConfiguration",
		},
		kindOther: {
			"CreateAccessPoint", "CreateAccessPointForObjectLambda", "CreateJob",
			"CreateMultiRegionAccessPoint", "DeleteAccessPoint", "DeleteAccessPointForObjectLambda",
			"DeleteAccessPointPolicy", "DeleteAccessPointPolicyForObjectLambda",
			"DeleteJobTagging", "DeleteMultiRegionAccessPoint", "DeleteStorageLensConfiguration",
			"DeleteStorageLensConfigurationTagging", "DescribeJob",
			"DescribeMultiRegionAccessPointOperation", "GetAccessPoint",
			"GetAccessPointConfigurationForObjectLambda", "GetAccessPointForObjectLambda",
			"GetAccessPointPolicy", "GetAccessPointPolicyForObjectLambda",
			"GetAccessPointPolicyStatus", "GetAccessPointPolicyStatusForObjectLambda",
			"GetAccountPublicAccessBlock", "GetJobTagging", "GetMultiRegionAccessPoint",
			"GetMultiRegionAccessPointPolicy", "GetMultiRegionAccessPointPolicyStatus",
			"GetStorageLensConfiguration", "GetStorageLensConfigurationTagging",
			"GetStorageLensDashboard", "ListAccessPoints", "ListAccessPointsForObjectLambda",
			"ListAllMyBuckets", "ListJobs", "ListMultiRegionAccessPoints",
			"ListStorageLensConfigurations", "PutAccessPointConfigurationForObjectLambda",
			"PutAccessPointPolicy", "PutAccessPointPolicyForObjectLambda",
			"PutAccessPointPublicAccessBlock", "PutAccountPublicAccessBlock", "PutJobTagging",
			"PutMultiRegionAccessPointPolicy", "PutStorageLensConfiguration",
			"PutStorageLensConfigurationTagging", "UpdateJobPriority", "UpdateJobStatus",
		},
	} {
		for _, n := range names {
			m[toLower(n)] = kind
		}
	}
	return m
}

// actionKinds returns the resource kinds the action pattern (already
// lower-cased, "s3:" prefix included, or "*") can apply to; 0 means the
// pattern names no S3 action at all.
func actionKinds(pattern string) resourceKind {
	if pattern == "*" {
		return kindObject | kindBucket | kindOther
	}
	name := pattern[len("s3:"):]
	if !hasWildcard(name) {
		return s3Actions[name]
	}
	var kinds resourceKind
	for n, k := range s3Actions {
		if wildcardMatch(name, n, false) {
			kinds |= k
		}
	}
	return kinds
}

func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

// toLower is strings.ToLower for the ASCII names policies use.
func toLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}
