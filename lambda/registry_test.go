package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func TestRegistrySurvivesRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createPy("kept", func(in *lambdasdk.CreateFunctionInput) { in.Tags = map[string]string{"k": "v"} })
	if _, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("kept"), ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	e.createPy("local", func(in *lambdasdk.CreateFunctionInput) {
		in.Code = &types.FunctionCode{S3Bucket: aws.String(HotReloadBucket), S3Key: aws.String(local)}
	})
	before, err := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("kept")})
	if err != nil {
		t.Fatal(err)
	}

	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	e.open()

	after, err := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("kept")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.Configuration, after.Configuration, cmp.AllowUnexported(), cmpIgnoreNoCopy); diff != "" {
		t.Errorf("configuration changed across restart (-before +after):\n%s", diff)
	}
	if aws.ToInt32(after.Concurrency.ReservedConcurrentExecutions) != 3 || after.Tags["k"] != "v" {
		t.Errorf("concurrency/tags lost: %+v %v", after.Concurrency, after.Tags)
	}
	fn, _ := e.svc.reg.get("us-east-1", "kept")
	for _, v := range []*versionRecord{&fn.Latest, fn.version("1")} {
		if st, err := os.Stat(filepath.Join(v.Code.Dir, "app.py")); err != nil || st.Size() == 0 {
			t.Errorf("version %s code missing after restart: %v", v.Version, err)
		}
	}
	lf, ok := e.svc.reg.get("us-east-1", "local")
	if !ok || lf.Latest.Code.Dir != local || !e.svc.spec(lf, &lf.Latest).WatchCode {
		t.Errorf("local function after restart: %+v", lf)
	}

	// Deleting a function removes its code but never a local directory.
	if _, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fn.Latest.Code.Dir); !os.IsNotExist(err) {
		t.Errorf("code of deleted function still there: %v", err)
	}
	if _, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("local")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); err != nil {
		t.Errorf("local directory removed: %v", err)
	}
}

// cmpIgnoreNoCopy ignores the SDK's unexported document fields.
var cmpIgnoreNoCopy = cmp.FilterPath(func(p cmp.Path) bool {
	return strings.Contains(p.String(), "noSmithyDocumentSerde")
}, cmp.Ignore())

func TestUpdateCodeRemovesUnusedTrees(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createPy("fn")
	first, _ := e.svc.reg.get("us-east-1", "fn")
	if _, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{
		FunctionName: aws.String("fn"), ZipFile: zipOf(t, map[string]string{"app.py": "# two\n" + pyHandler}),
	}); err != nil {
		t.Fatal(err)
	}
	// Invocations still running on the replaced code may need its files:
	// it stays until the next update.
	if _, err := os.Stat(first.Latest.Code.Dir); err != nil {
		t.Errorf("just-replaced code removed: %v", err)
	}
	if _, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	second, _ := e.svc.reg.get("us-east-1", "fn")
	if _, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{
		FunctionName: aws.String("fn"), ZipFile: zipOf(t, map[string]string{"app.py": "# three\n" + pyHandler}),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(second.Latest.Code.Dir); err != nil {
		t.Errorf("code of published version 1 removed: %v", err)
	}
	if _, err := os.Stat(first.Latest.Code.Dir); !os.IsNotExist(err) {
		t.Errorf("code replaced two updates ago still on disk: %v", err)
	}
	third, _ := e.svc.reg.get("us-east-1", "fn")
	dry, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{
		FunctionName: aws.String("fn"), ZipFile: zipOf(t, map[string]string{"app.py": "# dry\n"}), DryRun: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := e.svc.reg.get("us-east-1", "fn")
	if aws.ToString(dry.CodeSha256) == third.Latest.Code.Sha256 || after.Latest.Code != third.Latest.Code {
		t.Errorf("DryRun changed the function or reported the old sha")
	}
	entries, _ := os.ReadDir(filepath.Dir(third.Latest.Code.Dir))
	if len(entries) != 4 { // two trees (version 1 = previous $LATEST, current $LATEST) and their zips
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Errorf("code directory after DryRun: %v", names)
	}
}

// rawZip builds a zip with full control over names, modes and link targets.
func rawZip(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, en := range entries {
		h := &zip.FileHeader{Name: en.name, Method: zip.Store}
		h.SetMode(en.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(en.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zipEntry struct {
	name string
	mode fs.FileMode
	body string
}

func extractBytes(t testing.TB, data []byte, dest string, limit int64) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return badZip(err)
	}
	return extractZip(zr, dest, limit)
}

func TestExtractZip(t *testing.T) {
	tests := []struct {
		name    string
		entries []zipEntry
		limit   int64
		ok      bool
		check   func(t *testing.T, dest string)
	}{
		{name: "files, dirs and exec bits", ok: true, entries: []zipEntry{
			{"bootstrap", 0o755, "#!/bin/sh\n"},
			{"lib/", fs.ModeDir | 0o755, ""},
			{"lib/mod.py", 0o600, "x = 1\n"},
			{"deep/a/b/c.txt", 0o644, "c"},
		}, check: func(t *testing.T, dest string) {
			for name, want := range map[string]fs.FileMode{"bootstrap": 0o755, "lib/mod.py": 0o644, "deep/a/b/c.txt": 0o644} {
				st, err := os.Stat(filepath.Join(dest, name))
				if err != nil || st.Mode().Perm() != want {
					t.Errorf("%s: %v, mode %v want %v", name, err, st.Mode().Perm(), want)
				}
			}
		}},
		{name: "inside links", ok: true, entries: []zipEntry{
			{"real/file.txt", 0o644, "data"},
			{"link.txt", fs.ModeSymlink | 0o777, "real/file.txt"},
			{"real/up.txt", fs.ModeSymlink | 0o777, "../real/file.txt"},
		}, check: func(t *testing.T, dest string) {
			for _, name := range []string{"link.txt", "real/up.txt"} {
				b, err := os.ReadFile(filepath.Join(dest, name))
				if err != nil || string(b) != "data" {
					t.Errorf("%s: %q %v", name, b, err)
				}
			}
		}},
		{name: "parent escape", entries: []zipEntry{{"../x", 0o644, "x"}}},
		{name: "nested parent escape", entries: []zipEntry{{"a/../../x", 0o644, "x"}}},
		{name: "absolute", entries: []zipEntry{{"/tmp/x", 0o644, "x"}}},
		{name: "backslash escape", entries: []zipEntry{{"..\\x", 0o644, "x"}}},
		{name: "drive letter", entries: []zipEntry{{"C:/x", 0o644, "x"}}},
		{name: "link out", entries: []zipEntry{{"l", fs.ModeSymlink | 0o777, "../outside"}}},
		{name: "absolute link", entries: []zipEntry{{"l", fs.ModeSymlink | 0o777, "/etc"}}},
		{name: "link to dot then climb", entries: []zipEntry{
			{"d", fs.ModeSymlink | 0o777, "."},
			{"d/e", fs.ModeSymlink | 0o777, "../x"},
		}},
		{name: "climb after name", entries: []zipEntry{
			{"sub/", fs.ModeDir | 0o755, ""},
			{"s", fs.ModeSymlink | 0o777, "sub/../.."},
		}},
		// The file is written before any link exists, so it lands in a real
		// directory l; the link may then not replace that directory.
		{name: "write through link", entries: []zipEntry{
			{"l", fs.ModeSymlink | 0o777, "."},
			{"l/x", 0o644, "x"},
		}},
		{name: "bomb", limit: 10, entries: []zipEntry{{"big", 0o644, strings.Repeat("z", 11)}}},
		{name: "within limit", limit: 11, ok: true, entries: []zipEntry{{"big", 0o644, strings.Repeat("z", 11)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dest := filepath.Join(root, "dest")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			limit := tc.limit
			if limit == 0 {
				limit = sluice.MaxUnzippedSize
			}
			err := extractBytes(t, rawZip(t, tc.entries), dest, limit)
			assertContained(t, root, dest)
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
			if err != nil && !sluice.IsCode(err, sluice.ErrInvalidParameterValue) {
				t.Errorf("error code %s", sluice.ErrorCode(err))
			}
			if tc.check != nil && err == nil {
				tc.check(t, dest)
			}
		})
	}
}

// assertContained checks that nothing but dest exists under root and that
// every link under dest resolves inside it.
func assertContained(t testing.TB, root, dest string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "dest" {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Fatalf("extraction wrote outside its directory: %v", names)
	}
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil // dangling inside links are harmless
		}
		if resolved != realDest && !strings.HasPrefix(resolved, realDest+string(filepath.Separator)) {
			t.Fatalf("link %s resolves outside: %s", path, resolved)
		}
		return nil
	})
}

// FuzzExtractZip: arbitrary bytes as a zip never panic and never write
// outside the target directory.
func FuzzExtractZip(f *testing.F) {
	f.Add(rawZip(f, []zipEntry{{"a.py", 0o644, "x"}, {"bin/", fs.ModeDir | 0o755, ""}, {"bin/run", 0o755, "#!"}}))
	f.Add(rawZip(f, []zipEntry{{"../evil", 0o644, "x"}}))
	f.Add(rawZip(f, []zipEntry{{"l", fs.ModeSymlink | 0o777, "../../etc"}}))
	f.Add(rawZip(f, []zipEntry{{"d", fs.ModeSymlink | 0o777, "."}, {"d/e", fs.ModeSymlink | 0o777, "../x"}}))
	f.Add(rawZip(f, []zipEntry{{"x/y", fs.ModeSymlink | 0o777, "../y"}, {"y", 0o644, "data"}}))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		dest := filepath.Join(root, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		err := extractBytes(t, data, dest, 1<<20)
		if err != nil && !sluice.IsCode(err, sluice.ErrInvalidParameterValue) {
			t.Fatalf("error without InvalidParameterValue: %v", err)
		}
		assertContained(t, root, dest)
	})
}
