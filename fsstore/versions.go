package fsstore

import (
	"context"

	"github.com/sluicehq/sluice"
)

// Placeholder until versioning lands in fsstore (being written now): every
// versioning call answers NotImplemented.

func errNoVersioning() error {
	return sluice.Errorf(sluice.ErrNotImplemented, "object versioning is not implemented yet")
}

func (s *Store) SetVersioning(ctx context.Context, bucket, state string) error {
	return errNoVersioning()
}

func (s *Store) Versioning(ctx context.Context, bucket string) (string, error) {
	return "", nil
}

func (s *Store) HeadVersion(ctx context.Context, bucket, key, versionID string) (sluice.ObjectInfo, error) {
	return sluice.ObjectInfo{}, errNoVersioning()
}

func (s *Store) OpenVersion(ctx context.Context, bucket, key, versionID string) (sluice.Object, error) {
	return nil, errNoVersioning()
}

func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) (sluice.DeleteResult, error) {
	return sluice.DeleteResult{}, errNoVersioning()
}

func (s *Store) PutVersionTags(ctx context.Context, bucket, key, versionID string, tags []sluice.Tag) (sluice.ObjectInfo, error) {
	return sluice.ObjectInfo{}, errNoVersioning()
}

func (s *Store) ListVersions(ctx context.Context, bucket string, opts sluice.ListVersionsOptions) (sluice.VersionsPage, error) {
	return sluice.VersionsPage{}, errNoVersioning()
}
