package lambda

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
)

// HotReloadBucket is the S3Bucket value that makes S3Key name a local
// directory instead of an object: the function runs the directory's code in
// place and picks up changes on its next invocation. LocalStack uses the
// same convention, so tooling written for it works unchanged.
const HotReloadBucket = "hot-reload"

// hotReloadSha256 is the CodeSha256 reported for local-directory code, which
// has no zip to hash (the value LocalStack reports too).
const hotReloadSha256 = "hot-reloading-hash-not-available"

// maxZipEntries bounds how many files one package may hold, so that a tiny
// zip cannot exhaust inodes.
const maxZipEntries = 100000

// codeInfo describes where a version's code lives.
type codeInfo struct {
	Sha256 string `json:"sha256"` // base64 sha256 of the zip (CodeSha256)
	Size   int64  `json:"size"`   // bytes of the zip (CodeSize)
	Dir    string `json:"dir"`    // extracted tree, or the user's directory
	Zip    string `json:"zip,omitempty"`
	// Local marks a hot-reload directory: never removed by Sluice.
	Local bool `json:"local,omitempty"`
}

// revision is the host's CodeRevision for this code.
func (c codeInfo) revision() string {
	if c.Local {
		return "local:" + c.Dir
	}
	return c.Sha256
}

// codeStore keeps each function's packages under root/<region>/<name>/: the
// zip as <hexsha>.zip (GetFunction's Code.Location) and its extracted tree as
// <hexsha>/. Trees are written to a temporary directory and renamed into
// place, so a tree that exists is complete.
type codeStore struct {
	root  string
	store sluice.Store
}

func (c *codeStore) functionDir(region, name string) string {
	return filepath.Join(c.root, region, name)
}

// fromZip installs a zip package held in memory.
func (c *codeStore) fromZip(region, name string, data []byte) (codeInfo, error) {
	sum := sha256.Sum256(data)
	dir := c.functionDir(region, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return codeInfo{}, fmt.Errorf("create code directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".upload-*.zip")
	if err != nil {
		return codeInfo{}, fmt.Errorf("create code file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return codeInfo{}, fmt.Errorf("write code file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return codeInfo{}, fmt.Errorf("write code file: %w", err)
	}
	return c.install(dir, tmp.Name(), sum[:], int64(len(data)))
}

// fromS3 installs a zip package from an object in Sluice's own store.
func (c *codeStore) fromS3(ctx context.Context, region, name, bucket, key, version string) (codeInfo, error) {
	if c.store == nil {
		return codeInfo{}, invalidParam("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist")
	}
	// S3ObjectVersion names one version of a versioned bucket's object;
	// without it the current version is used, as GetObject does.
	obj, err := c.store.OpenVersion(ctx, bucket, key, version)
	if err != nil {
		// The store's errors carry S3's own messages; others are internal.
		var se *sluice.Error
		code := sluice.ErrorCode(err)
		switch code {
		case sluice.ErrNoSuchBucket, sluice.ErrNoSuchKey, sluice.ErrNoSuchVersion, sluice.ErrInvalidArgument, sluice.ErrMethodNotAllowed:
			errors.As(err, &se)
		default:
			return codeInfo{}, fmt.Errorf("open code object s3://%s/%s: %w", bucket, key, err)
		}
		msg := se.Message
		return codeInfo{}, invalidParam("Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s", code, msg)
	}
	defer obj.Close()
	if obj.Info().Size > sluice.MaxUnzippedSize {
		return codeInfo{}, invalidParam("Unzipped size must be smaller than %d bytes", sluice.MaxUnzippedSize)
	}
	rd, err := obj.Reader(0, -1)
	if err != nil {
		return codeInfo{}, fmt.Errorf("read code object s3://%s/%s: %w", bucket, key, err)
	}
	defer rd.Close()
	dir := c.functionDir(region, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return codeInfo{}, fmt.Errorf("create code directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".upload-*.zip")
	if err != nil {
		return codeInfo{}, fmt.Errorf("create code file: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rd)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return codeInfo{}, fmt.Errorf("copy code object s3://%s/%s: %w", bucket, key, err)
	}
	return c.install(dir, tmp.Name(), h.Sum(nil), n)
}

// fromLocal points a function at a directory on this machine.
func fromLocal(dir string) (codeInfo, error) {
	if !filepath.IsAbs(dir) {
		return codeInfo{}, invalidParam("S3Key must be an absolute directory path when S3Bucket is %q, got %q", HotReloadBucket, dir)
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return codeInfo{}, invalidParam("S3Key %q (S3Bucket %q) is not a directory on the Sluice host", dir, HotReloadBucket)
	}
	return codeInfo{Sha256: hotReloadSha256, Dir: filepath.Clean(dir), Local: true}, nil
}

// install extracts the zip at path into dir/<hexsha>/ unless that tree
// already exists, and keeps the zip beside it.
func (c *codeStore) install(dir, path string, sum []byte, size int64) (codeInfo, error) {
	hexsum := hex.EncodeToString(sum)
	info := codeInfo{
		Sha256: base64.StdEncoding.EncodeToString(sum),
		Size:   size,
		Dir:    filepath.Join(dir, hexsum),
		Zip:    filepath.Join(dir, hexsum+".zip"),
	}
	if st, err := os.Stat(info.Dir); err == nil && st.IsDir() {
		if _, err := os.Stat(info.Zip); err != nil {
			if err := os.Rename(path, info.Zip); err != nil {
				return codeInfo{}, fmt.Errorf("keep code zip: %w", err)
			}
		}
		return info, nil
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return codeInfo{}, invalidParam("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	defer zr.Close()
	tmp, err := os.MkdirTemp(dir, ".extract-*")
	if err != nil {
		return codeInfo{}, fmt.Errorf("create extraction directory: %w", err)
	}
	if err := extractZip(&zr.Reader, tmp, sluice.MaxUnzippedSize); err != nil {
		os.RemoveAll(tmp)
		return codeInfo{}, err
	}
	// MkdirTemp makes 0700; the function's processes only need what the
	// user running sluice has, but keep the tree readable like a checkout.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return codeInfo{}, fmt.Errorf("chmod code directory: %w", err)
	}
	if err := os.Rename(tmp, info.Dir); err != nil {
		os.RemoveAll(tmp)
		if st, serr := os.Stat(info.Dir); serr == nil && st.IsDir() {
			// A concurrent upload of the same zip won the race.
			return info, nil
		}
		return codeInfo{}, fmt.Errorf("install code directory: %w", err)
	}
	if err := os.Rename(path, info.Zip); err != nil {
		return codeInfo{}, fmt.Errorf("keep code zip: %w", err)
	}
	return info, nil
}

// removeUnused deletes the function's code trees and zips that no version
// in keep refers to. An empty keep removes the function's whole directory.
func (c *codeStore) removeUnused(region, name string, keep map[string]bool) error {
	dir := c.functionDir(region, name)
	if len(keep) == 0 {
		return os.RemoveAll(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // an upload in progress
		}
		tree := filepath.Join(dir, strings.TrimSuffix(e.Name(), ".zip"))
		if keep[tree] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// extractZip writes the archive's files under dest, which must be an empty
// directory. It never writes outside dest: entry names that are absolute or
// climb out with ".." are refused, no file is written through a symbolic
// link (links are created after every file, and a link inside a link is
// refused), and a link may only point inside dest. Executable bits are kept;
// everything else becomes 0644/0755. The bytes written are counted as they
// are inflated, so a zip bomb stops at limit whatever its headers claim.
func extractZip(zr *zip.Reader, dest string, limit int64) error {
	if len(zr.File) > maxZipEntries {
		return invalidParam("Could not unzip uploaded file: more than %d entries.", maxZipEntries)
	}
	type link struct{ name, target string }
	var links []link
	budget := limit
	for _, f := range zr.File {
		name, err := entryName(f.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the archive's root directory
		}
		mode := f.Mode()
		target := filepath.Join(dest, name)
		switch {
		case mode&fs.ModeSymlink != 0:
			rc, err := f.Open()
			if err != nil {
				return badZip(err)
			}
			t, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return badZip(err)
			}
			links = append(links, link{name, string(t)})
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return badZip(err)
			}
		case mode.IsRegular():
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return badZip(err)
			}
			perm := fs.FileMode(0o644)
			if mode.Perm()&0o111 != 0 {
				perm = 0o755
			}
			n, err := writeEntry(f, target, perm, budget)
			if err != nil {
				return err
			}
			budget -= n
		default:
			return invalidParam("Could not unzip uploaded file: entry %q is not a regular file, directory or symbolic link.", f.Name)
		}
	}
	for _, l := range links {
		if err := safeLink(dest, l.name, l.target); err != nil {
			return err
		}
	}
	return nil
}

// entryName turns a zip entry name into a clean relative path, refusing any
// that would leave the extraction directory.
func entryName(raw string) (string, error) {
	name := strings.ReplaceAll(raw, "\\", "/")
	if strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") || (len(name) > 1 && name[1] == ':') {
		return "", invalidParam("Could not unzip uploaded file: entry %q has an absolute path.", raw)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", invalidParam("Could not unzip uploaded file: entry %q leaves the package directory.", raw)
		}
	}
	clean := filepath.Clean(filepath.FromSlash(strings.TrimSuffix(name, "/")))
	if clean == "." {
		return "", nil
	}
	if !filepath.IsLocal(clean) {
		return "", invalidParam("Could not unzip uploaded file: entry %q leaves the package directory.", raw)
	}
	return clean, nil
}

// writeEntry inflates one file, stopping once it has written more than
// budget bytes.
func writeEntry(f *zip.File, target string, perm fs.FileMode, budget int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, badZip(err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, badZip(err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, badZip(err)
	}
	if n > budget {
		return n, invalidParam("Unzipped size must be smaller than %d bytes", sluice.MaxUnzippedSize)
	}
	// O_CREATE's perm applies only to new files and is filtered by umask.
	if err := os.Chmod(target, perm); err != nil {
		return n, badZip(err)
	}
	return n, nil
}

// safeLink creates dest/name -> target after checking that it resolves
// inside dest. The link's parent directories must be real directories (not
// links) so its location is what its name says, and every ".." in target
// must come before any other component: climbing out of a directory reached
// through another link could otherwise land outside dest even when the
// lexical path stays inside.
func safeLink(dest, name, target string) error {
	refuse := func() error {
		return invalidParam("Could not unzip uploaded file: symbolic link %q points outside the package directory.", filepath.ToSlash(name))
	}
	if target == "" || strings.ContainsRune(target, 0) || filepath.IsAbs(target) || strings.HasPrefix(target, "\\") {
		return refuse()
	}
	parts := strings.Split(filepath.ToSlash(target), "/")
	seenName := false
	for _, p := range parts {
		switch p {
		case "..":
			if seenName {
				return refuse()
			}
		case "", ".":
		default:
			seenName = true
		}
	}
	resolved := filepath.Join(filepath.Dir(name), filepath.FromSlash(target))
	if !filepath.IsLocal(resolved) {
		return refuse()
	}
	rel := "."
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(name)), "/") {
		if part == "." {
			continue
		}
		rel = filepath.Join(rel, part)
		st, err := os.Lstat(filepath.Join(dest, rel))
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(filepath.Join(dest, rel), 0o755); err != nil {
				return badZip(err)
			}
			continue
		}
		if err != nil {
			return badZip(err)
		}
		if !st.IsDir() {
			return refuse()
		}
	}
	if err := os.Symlink(target, filepath.Join(dest, name)); err != nil {
		return badZip(err)
	}
	return nil
}

func badZip(err error) error {
	return &sluice.Error{
		Code:    sluice.ErrInvalidParameterValue,
		Message: "Could not unzip uploaded file. Please check your file, then try to upload again.",
		Err:     err,
	}
}
